# Golden values for the statistics tests (R 4.2, metafor 3.8, survival 3.5).
# Reads the fixed inputs written by make_inputs.py and writes golden_*.csv next to them:
#   Rscript tests/r/golden.R
suppressPackageStartupMessages({library(metafor); library(survival)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
out <- function(df, name) write.csv(df, file.path(here, name), row.names = FALSE)
fmt <- function(x) formatC(x, digits = 17, format = "g")

# --- logistic: stats::glm, one PGS at a time, plus the PGS x sex interaction
lg <- read.csv(file.path(here, "logistic_input.csv"))
rows <- list()
for (k in 1:3) {
  lg$g <- lg[[paste0("pgs", k)]]
  fit <- glm(y ~ g + pc1 + pc2 + pc3 + sex + age, family = binomial, data = lg)
  co <- summary(fit)$coefficients
  rows[[length(rows) + 1]] <- data.frame(model = paste0("pgs", k), term = "g",
    beta = fmt(co["g", 1]), se = fmt(co["g", 2]), iter = fit$iter)
  fit <- glm(y ~ g * sex + pc1 + pc2 + pc3 + age, family = binomial, data = lg)
  co <- summary(fit)$coefficients
  rows[[length(rows) + 1]] <- data.frame(model = paste0("pgs", k, "_x_sex"), term = "g:sex",
    beta = fmt(co["g:sex", 1]), se = fmt(co["g:sex", 2]), iter = fit$iter)
}
out(do.call(rbind, rows), "golden_logistic.csv")

# --- meta-regression: metafor::rma REML with and without the moderator
mt <- read.csv(file.path(here, "meta_input.csv"))
rows <- list()
for (s in unique(mt$set)) {
  d <- mt[mt$set == s, ]
  m1 <- rma(yi, vi, mods = ~ x, data = d, method = "REML")
  m0 <- rma(yi, vi, data = d, method = "REML")
  rows[[length(rows) + 1]] <- data.frame(set = s, k = m1$k, tau2 = fmt(m1$tau2),
    tau2_null = fmt(m0$tau2), r2 = fmt(ifelse(is.null(m1$R2), NA, m1$R2)),
    qe = fmt(m1$QE), qe_p = fmt(m1$QEp), qm = fmt(m1$QM), qm_p = fmt(m1$QMp),
    b0 = fmt(coef(m1)[1]), b1 = fmt(coef(m1)[2]), b0_se = fmt(m1$se[1]), b1_se = fmt(m1$se[2]),
    b1_ci_low = fmt(m1$ci.lb[2]), b1_ci_high = fmt(m1$ci.ub[2]), b1_p = fmt(m1$pval[2]))
}
out(do.call(rbind, rows), "golden_meta.csv")

# --- Cox (Efron) with PGS strata and per SD, per cohort and pooled with cohort as stratum
cx <- read.csv(file.path(here, "cox_input.csv"))
cx$pgs_group <- factor(cx$pgs_group, levels = 0:2)
rows <- list(); zrows <- list()
models <- list(
  strata = Surv(time, event) ~ pgs_group + age_at_diagnosis + sex + pc1 + pc2,
  per_sd = Surv(time, event) ~ pgs_sd + age_at_diagnosis + sex + pc1 + pc2,
  pooled = Surv(time, event) ~ pgs_group + age_at_diagnosis + sex + pc1 + pc2 + strata(cohort))
for (name in names(models)) {
  fit <- coxph(models[[name]], data = cx, ties = "efron")
  co <- summary(fit)$coefficients
  rows[[length(rows) + 1]] <- data.frame(model = name, term = rownames(co),
    coef = fmt(co[, "coef"]), se = fmt(co[, "se(coef)"]))
  z <- cox.zph(fit, transform = "km", terms = TRUE)$table
  zrows[[length(zrows) + 1]] <- data.frame(model = name, term = rownames(z),
    chisq = fmt(z[, "chisq"]), df = z[, "df"], p = fmt(z[, "p"]))
}
# tied integer times (Efron) on the KM input: group as a 2-df factor
km <- read.csv(file.path(here, "km_input.csv"))
km$group <- factor(km$group, levels = 0:2)
fit <- coxph(Surv(time, event) ~ group, data = km, ties = "efron")
co <- summary(fit)$coefficients
rows[[length(rows) + 1]] <- data.frame(model = "ties", term = rownames(co),
  coef = fmt(co[, "coef"]), se = fmt(co[, "se(coef)"]))
z <- cox.zph(fit, transform = "km", terms = TRUE)$table
zrows[[length(zrows) + 1]] <- data.frame(model = "ties", term = rownames(z),
  chisq = fmt(z[, "chisq"]), df = z[, "df"], p = fmt(z[, "p"]))
out(do.call(rbind, rows), "golden_cox.csv")
out(do.call(rbind, zrows), "golden_zph.csv")

# --- scaled Schoenfeld residuals of cox.zph(transform = "km"): $x, $time and $y, one column
# per coefficient (terms = FALSE), for the three models and the tied-times model
srows <- list()
long_zph <- function(name, fit) {
  z <- cox.zph(fit, transform = "km", terms = FALSE)
  y <- as.matrix(z$y)
  do.call(rbind, lapply(seq_len(ncol(y)), function(j) data.frame(model = name,
    event = seq_len(nrow(y)), term = colnames(y)[j], time = fmt(z$time), x = fmt(z$x),
    y = fmt(y[, j]))))
}
for (name in names(models)) {
  srows[[length(srows) + 1]] <- long_zph(name, coxph(models[[name]], data = cx, ties = "efron"))
}
srows[[length(srows) + 1]] <- long_zph("ties", coxph(Surv(time, event) ~ group, data = km,
                                                     ties = "efron"))
out(do.call(rbind, srows), "golden_schoenfeld.csv")

# --- Kaplan-Meier with log-log CI per group (tied integer times)
km <- read.csv(file.path(here, "km_input.csv"))
rows <- list()
for (g in sort(unique(km$group))) {
  f <- survfit(Surv(time, event) ~ 1, data = km[km$group == g, ], conf.type = "log-log")
  rows[[length(rows) + 1]] <- data.frame(group = g, time = f$time, n_risk = f$n.risk,
    n_event = f$n.event, surv = fmt(f$surv), lower = fmt(f$lower), upper = fmt(f$upper))
}
out(do.call(rbind, rows), "golden_km.csv")
# --- survival replication (the paper's eFigure 6): log HR per SD of 20 PGS in each cohort
# (coxph, Efron, per SD with the cohort's sample SD), then rma of the replication cohort's
# estimates on the discovery cohort's, REML, with and without the moderator
rp <- read.csv(file.path(here, "cox_replication_input.csv"))
rows <- list()
for (cohort in c("discovery", "replication")) {
  d <- rp[rp$cohort == cohort, ]
  for (k in 1:20) {
    d$x <- d[[paste0("pgs", k)]] / sd(d[[paste0("pgs", k)]])
    fit <- coxph(Surv(time, event) ~ x + age_at_diagnosis + sex + pc1 + pc2, data = d,
                 ties = "efron")
    co <- summary(fit)$coefficients
    rows[[length(rows) + 1]] <- data.frame(cohort = cohort, trait = paste0("pgs", k),
      coef = fmt(co["x", "coef"]), se = fmt(co["x", "se(coef)"]))
  }
}
est <- do.call(rbind, rows)
out(est, "golden_cox_replication.csv")
num <- function(x) as.numeric(x)
disc <- est[est$cohort == "discovery", ]
rep <- est[est$cohort == "replication", ]
m1 <- rma(num(rep$coef), num(rep$se)^2, mods = ~ num(disc$coef), method = "REML")
m0 <- rma(num(rep$coef), num(rep$se)^2, method = "REML")
out(data.frame(k = m1$k, tau2 = fmt(m1$tau2), tau2_null = fmt(m0$tau2),
  r2 = fmt(ifelse(is.null(m1$R2), NA, m1$R2)), qe = fmt(m1$QE), qe_p = fmt(m1$QEp),
  qm = fmt(m1$QM), qm_p = fmt(m1$QMp), intercept = fmt(coef(m1)[1]),
  intercept_se = fmt(m1$se[1]), slope = fmt(coef(m1)[2]), slope_se = fmt(m1$se[2]),
  slope_ci_low = fmt(m1$ci.lb[2]), slope_ci_high = fmt(m1$ci.ub[2]), slope_p = fmt(m1$pval[2])),
  "golden_meta_cox.csv")
cat("golden values written to", here, "\n")
