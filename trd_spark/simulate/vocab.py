"""The OMOP vocabulary subset the synthetic study uses: concept and concept_ancestor rows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trd_spark.resources import conf_path

# Antipsychotic ingredients whose ids conf/code_lists/drugs.tsv leaves blank (looked up by name).
UNLISTED_ANTIPSYCHOTICS = {
    "haloperidol": 766529,
    "lurasidone": 40230961,
    "brexpiprazole": 46275300,
    "cariprazine": 46275024,
    "asenapine": 40164727,
    "iloperidone": 19017241,
    "lumateperone": 1592407,
    "chlorpromazine": 794852,
    "fluphenazine": 756018,
    "perphenazine": 733008,
    "thiothixene": 700299,
    "loxapine": 792263,
    "pimozide": 745790,
}
# Ingredients that must NOT count (docs/phenotypes.md) plus unrelated drugs.
OTHER_INGREDIENTS = {
    "lithium": 19124477,
    "prochlorperazine": 752061,
    "ketamine": 785649,
    "atorvastatin": 1545958,
    "metformin": 1503297,
    "lisinopril": 1308216,
}
ATC_ANTIDEPRESSANTS = 21604686
MDD_ICD10 = [
    "F32.0",
    "F32.1",
    "F32.2",
    "F32.3",
    "F32.4",
    "F32.5",
    "F32.9",
    "F33.0",
    "F33.1",
    "F33.2",
    "F33.3",
    "F33.40",
    "F33.41",
    "F33.42",
    "F33.8",
    "F33.9",
]
MDD_ICD9 = [
    "296.20",
    "296.21",
    "296.22",
    "296.23",
    "296.24",
    "296.25",
    "296.26",
    "296.30",
    "296.31",
    "296.32",
    "296.33",
    "296.34",
    "296.35",
    "296.36",
]
PSYCH_ICD10 = ["F20.0", "F20.9", "F20.81", "F31.0", "F31.81", "F31.9", "F31.32"]
PSYCH_ICD9 = [
    "295.30",
    "295.90",
    "296.40",
    "296.52",
    "296.7",
    "296.80",
    "296.89",
    "296.01",
    "296.14",
]
DISTRACTOR_ICD10 = ["F32.81", "F32.A", "F32.89", "F34.1", "F41.1", "F43.10", "I10", "E11.9"]
DISTRACTOR_ICD9 = ["311", "300.4", "296.90", "309.0", "V79.0", "401.9"]
ECT_CODES = [
    ("CPT4", "90870"),
    ("ICD10PCS", "GZB0ZZZ"),
    ("ICD10PCS", "GZB1ZZZ"),
    ("ICD10PCS", "GZB2ZZZ"),
    ("ICD10PCS", "GZB3ZZZ"),
    ("ICD10PCS", "GZB4ZZZ"),
    ("ICD9Proc", "94.27"),
    ("SNOMED", "23835007"),
]
OTHER_PROCEDURES = [("CPT4", "90834"), ("CPT4", "90792"), ("CPT4", "99213")]
SNOMED_CONDITIONS = {"mdd": 440383, "psych": 435783, "other": 4182210}
DOMAIN_CONCEPTS = [
    (8507, "MALE", "Gender", "Gender", "Gender", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "F"),
    (45880669, "Male", "Observation", "PPI", "Answer", "SexAtBirth_Male"),
    (45878463, "Female", "Observation", "PPI", "Answer", "SexAtBirth_Female"),
    (9201, "Inpatient Visit", "Visit", "Visit", "Visit", "IP"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
    (9203, "Emergency Room Visit", "Visit", "Visit", "Visit", "ER"),
    (32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "OMOP4976890"),
    (8527, "White", "Race", "Race", "Race", "5"),
    (8516, "Black or African American", "Race", "Race", "Race", "3"),
    (8515, "Asian", "Race", "Race", "Race", "2"),
]
CLINICAL_BASE, COMBO_BASE, PROCEDURE_BASE = 2_000_500_000, 2_000_590_000, 2_000_600_000
ICD10_BASE, ICD9_BASE = 35_200_000, 44_820_000


@dataclass(frozen=True)
class Vocabulary:
    """Concept rows, ancestor rows, and the lookups the event writer needs."""

    concept_df: pd.DataFrame
    ancestor_df: pd.DataFrame
    ingredients: dict[str, int]  # name -> ingredient concept id
    products: dict[str, list[int]]  # ingredient name -> [clinical, clinical, branded] ids
    combos: dict[str, int]  # ingredient name -> combination product id containing it
    condition_ids: dict[tuple[str, str], int]  # (vocabulary, code) -> source concept id
    procedure_ids: dict[tuple[str, str], int]
    antidepressants: list[str]
    antipsychotics: list[str]


def read_drug_list() -> pd.DataFrame:
    """The shipped drug code list (group, concept_id, ingredient)."""
    return pd.read_csv(
        conf_path("code_lists") / "drugs.tsv", sep="\t", dtype={"concept_id": "Int64"}
    )


def concept_row(
    cid: int, name: str, domain: str, vocab: str, cls: str, code: str, std: str | None
) -> dict:
    """One concept row as OMOP v5.3 defines it."""
    return {
        "concept_id": cid,
        "concept_name": name,
        "domain_id": domain,
        "vocabulary_id": vocab,
        "concept_class_id": cls,
        "standard_concept": std,
        "concept_code": code,
        "valid_start_date": "1970-01-01",
        "valid_end_date": "2099-12-31",
        "invalid_reason": None,
    }


def drug_concepts(ingredients: dict[str, int]) -> tuple[list[dict], list[dict], dict, dict]:
    """Ingredient, clinical-drug, branded-drug and combination rows with their ancestry."""
    rows, ancestors, products = [], [], {}
    for k, (name, cid) in enumerate(sorted(ingredients.items())):
        rows.append(concept_row(cid, name, "Drug", "RxNorm", "Ingredient", str(800_000 + k), "S"))
        ancestors.append((cid, cid, 0, 0))
        ids = [CLINICAL_BASE + 10 * k + j for j in range(3)]
        for j, dose in enumerate(("10 MG", "50 MG")):
            rows.append(
                concept_row(
                    ids[j],
                    f"{name} {dose} Oral Tablet",
                    "Drug",
                    "RxNorm",
                    "Clinical Drug",
                    str(900_000 + 10 * k + j),
                    "S",
                )
            )
            ancestors.append((cid, ids[j], 1, 1))
        rows.append(
            concept_row(
                ids[2],
                f"{name} 10 MG Oral Tablet [Brand{k}]",
                "Drug",
                "RxNorm",
                "Branded Drug",
                str(900_000 + 10 * k + 2),
                "S",
            )
        )
        ancestors += [(ids[0], ids[2], 1, 1), (cid, ids[2], 2, 2)]
        products[name] = ids
    combos = {}
    for j, (a, b) in enumerate((("fluoxetine", "olanzapine"), ("amitriptyline", "perphenazine"))):
        cid = COMBO_BASE + j
        rows.append(
            concept_row(
                cid,
                f"{a} 25 MG / {b} 6 MG Oral Capsule",
                "Drug",
                "RxNorm",
                "Clinical Drug",
                str(990_000 + j),
                "S",
            )
        )
        ancestors += [(ingredients[a], cid, 1, 1), (ingredients[b], cid, 1, 1)]
        combos[a] = cid
    return rows, [dict(zip(ANCESTOR_COLUMNS, a, strict=False)) for a in ancestors], products, combos


ANCESTOR_COLUMNS = (
    "ancestor_concept_id",
    "descendant_concept_id",
    "min_levels_of_separation",
    "max_levels_of_separation",
)


def code_concepts() -> tuple[list[dict], dict, dict]:
    """ICD source concepts for diagnoses, and procedure concepts."""
    rows, conditions, procedures = [], {}, {}
    for vocab, codes, base in (
        ("ICD10CM", MDD_ICD10 + PSYCH_ICD10 + DISTRACTOR_ICD10, ICD10_BASE),
        ("ICD9CM", MDD_ICD9 + PSYCH_ICD9 + DISTRACTOR_ICD9, ICD9_BASE),
    ):
        for k, code in enumerate(codes):
            conditions[(vocab, code)] = base + k
            rows.append(
                concept_row(
                    base + k,
                    f"{vocab} {code}",
                    "Condition",
                    vocab,
                    "5-char billing code",
                    code,
                    None,
                )
            )
    for k, (vocab, code) in enumerate(ECT_CODES + OTHER_PROCEDURES):
        procedures[(vocab, code)] = PROCEDURE_BASE + k
        rows.append(
            concept_row(
                PROCEDURE_BASE + k,
                f"{vocab} procedure {code}",
                "Procedure",
                vocab,
                "Procedure",
                code,
                "S",
            )
        )
    for name, cid in SNOMED_CONDITIONS.items():
        rows.append(
            concept_row(
                cid, f"SNOMED {name}", "Condition", "SNOMED", "Clinical Finding", str(cid), "S"
            )
        )
    return rows, conditions, procedures


def build_vocabulary() -> Vocabulary:
    """Every concept the synthetic OMOP tables refer to, and concept_ancestor."""
    drugs_df = read_drug_list()
    listed = drugs_df.dropna(subset=["concept_id"])
    ingredients = {
        n: int(c) for n, c in zip(listed["ingredient"], listed["concept_id"], strict=False)
    }
    ingredients |= UNLISTED_ANTIPSYCHOTICS | OTHER_INGREDIENTS
    drug_rows, ancestor_rows, products, combos = drug_concepts(ingredients)
    code_rows, conditions, procedures = code_concepts()
    antidepressants = drugs_df.loc[drugs_df["group"] == "antidepressant", "ingredient"].tolist()
    ancestor_rows.append(
        dict(zip(ANCESTOR_COLUMNS, (ATC_ANTIDEPRESSANTS, ATC_ANTIDEPRESSANTS, 0, 0), strict=False))
    )
    for name in antidepressants:  # a drug class above the ingredients: must not count by itself
        ancestor_rows.append(
            dict(
                zip(ANCESTOR_COLUMNS, (ATC_ANTIDEPRESSANTS, ingredients[name], 1, 1), strict=False)
            )
        )
    extra = [
        concept_row(ATC_ANTIDEPRESSANTS, "ANTIDEPRESSANTS", "Drug", "ATC", "ATC 3rd", "N06A", "C")
    ]
    extra += [concept_row(c, n, d, v, cl, code, "S") for c, n, d, v, cl, code in DOMAIN_CONCEPTS]
    concept_df = pd.DataFrame(drug_rows + code_rows + extra)
    if concept_df["concept_id"].duplicated().any():
        raise AssertionError("duplicate concept ids in the simulated vocabulary")
    return Vocabulary(
        concept_df=concept_df,
        ancestor_df=pd.DataFrame(ancestor_rows),
        ingredients=ingredients,
        products=products,
        combos=combos,
        condition_ids=conditions,
        procedure_ids=procedures,
        antidepressants=antidepressants,
        antipsychotics=drugs_df.loc[drugs_df["group"] == "antipsychotic", "ingredient"].tolist(),
    )
