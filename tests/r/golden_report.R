# Golden values for the report's proportional-hazards figure (R 4.2, survival 3.5):
# the smooth and band R's plot.cox.zph draws through the scaled Schoenfeld residuals, and
# the days it labels the time axis with, for the PGS columns of cox_input.csv's models.
#   Rscript tests/r/golden_report.R
# The lines below repeat plot.cox.zph's own computation (survival 3.5.3; print
# survival:::plot.cox.zph to compare) without drawing, for df = 4 and nsmo = 40.
suppressPackageStartupMessages({library(survival); library(splines)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
fmt <- function(x) formatC(x, digits = 17, format = "g")

cx <- read.csv(file.path(here, "cox_input.csv"))
cx$pgs_group <- factor(cx$pgs_group, levels = 0:2)
models <- list(
  strata = Surv(time, event) ~ pgs_group + age_at_diagnosis + sex + pc1 + pc2,
  per_sd = Surv(time, event) ~ pgs_sd + age_at_diagnosis + sex + pc1 + pc2,
  pooled = Surv(time, event) ~ pgs_group + age_at_diagnosis + sex + pc1 + pc2 + strata(cohort))
rows <- list(); axis_rows <- list()
for (name in names(models)) {
  fit <- coxph(models[[name]], data = cx, ties = "efron")
  x <- cox.zph(fit, transform = "km", terms = FALSE)
  xx <- x$x; yy <- x$y; df <- 4; nsmo <- 40
  pred.x <- seq(from = min(xx), to = max(xx), length = nsmo)
  lmat <- ns(c(pred.x, xx), df = df, intercept = TRUE)
  pmat <- lmat[1:nsmo, ]; xmat <- lmat[-(1:nsmo), ]
  qmat <- qr(xmat)
  bk <- backsolve(qmat$qr[1:df, 1:df], diag(df))
  seval <- ((pmat %*% (bk %*% t(bk))) * pmat) %*% rep(1, df)
  for (i in grep("^pgs", colnames(yy))) {
    yhat <- pmat %*% qr.coef(qmat, yy[, i])
    half <- 2 * sqrt(x$var[i, i] * seval)
    rows[[length(rows) + 1]] <- data.frame(model = name, term = colnames(yy)[i],
      point = seq_len(nsmo), x = fmt(pred.x), fit = fmt(yhat), low = fmt(yhat - half),
      high = fmt(yhat + half), var = fmt(x$var[i, i]), n_deaths = nrow(yy))
  }
  indx <- !duplicated(xx)
  apr1 <- approx(xx[indx], x$time[indx], seq(min(xx), max(xx), length = 17)[2 * (1:8)])
  days <- signif(apr1$y, 2)
  apr2 <- approx(x$time[indx], xx[indx], days)
  axis_rows[[length(axis_rows) + 1]] <- data.frame(model = name, days = days,
    position = fmt(apr2$y))
}
write.csv(do.call(rbind, rows), file.path(here, "golden_zph_smooth.csv"), row.names = FALSE)
write.csv(do.call(rbind, axis_rows), file.path(here, "golden_zph_axis.csv"), row.names = FALSE)
