"""The OMOP vocabulary subset the synthetic study uses: concept and concept_ancestor rows."""

from __future__ import annotations

from dataclasses import dataclass, field

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
# schizophrenia, schizoaffective (F25, 295.7x), bipolar and manic episode (F30, 296.0x)
PSYCH_ICD10 = [
    "F20.0", "F20.9", "F20.81", "F25.0", "F25.1", "F25.9", "F30.10", "F30.2", "F30.9",
    "F31.0", "F31.81", "F31.9", "F31.32",
]  # fmt: skip
PSYCH_ICD9 = [
    "295.30", "295.90", "295.70", "295.72", "296.40", "296.52", "296.7", "296.80", "296.89",
    "296.00", "296.01", "296.04", "296.14",
]  # fmt: skip
# depression not otherwise specified: not MDD in either vocabulary (docs/phenotypes.md)
NOS_ICD10, NOS_ICD9 = ["F32.A"], ["311"]
DISTRACTOR_ICD10 = ["F32.81", "F32.A", "F32.89", "F34.1", "F41.1", "F43.10", "I10", "E11.9"]
DISTRACTOR_ICD9 = ["311", "300.4", "296.90", "309.0", "V79.0", "401.9"]
# everyday diagnoses that fill a realistic record (simulate/density.py)
FILLER_ICD10 = [
    "J06.9", "M54.50", "Z00.00", "K21.9", "E78.5", "R51.9", "N39.0", "J45.909", "M25.561",
    "R10.9", "Z23", "E66.9",
]  # fmt: skip
# Standard SNOMED concepts the ICD codes map to ('Maps to'), by the code's leading part
# (longest prefix first); a diagnosis recorded only in SNOMED carries one of these, or a
# non-standard SNOMED source concept that maps to one (SNOMED_SOURCES)
SNOMED_STANDARD = {
    "mdd_single": (4_152_280, "Major depressive disorder, single episode", "F32 2962"),
    "mdd_recurrent": (4_282_096, "Recurrent major depression", "F33 2963"),
    "depression_nos": (440_383, "Depressive disorder", "F32A 311"),
    "depression_other": (4_191_716, "Other specified depressive episode", "F3281 F3289"),
    "schizoaffective": (4_286_201, "Schizoaffective disorder", "F25 2957"),
    "schizophrenia": (435_783, "Schizophrenia", "F20 295"),
    "manic": (4_333_677, "Manic episode", "F30 2960 2961"),
    "bipolar": (436_665, "Bipolar disorder", "F31 2964 2965 2966 2967 2968"),
    "other": (4_182_210, "Clinical finding", ""),
}
SNOMED_SOURCES = {  # non-standard SNOMED source concept -> the standard it maps to
    "mdd_recurrent": (45_765_001, "Major depression in remission (non-standard)"),
    "bipolar": (45_765_002, "Bipolar affective disorder, current episode (non-standard)"),
}
ROUTES = {"oral": 4_132_161, "topical": 4_263_689, "transdermal": 4_262_099}
DOSE_FORMS = {
    "Oral Tablet": 19_082_573, "Oral Capsule": 19_082_168, "Topical Cream": 19_082_225,
    "Transdermal System": 19_082_229, "Nasal Spray": 19_095_973,
}  # fmt: skip
# person.race_concept_id / ethnicity_concept_id as All of Us writes them (PPI answers too)
RACE_CONCEPTS = {
    "White": 8527, "Black or African American": 8516, "Asian": 8515,
    "More than one population": 2_000_000_008, "None of these": 45_882_607,
    "PMI: Skip": 903_096, "I prefer not to answer": 1_177_221, "No matching concept": 0,
}  # fmt: skip
ETHNICITY_CONCEPTS = {
    "Hispanic or Latino": 38_003_563, "Not Hispanic or Latino": 38_003_564,
    "PMI: Skip": 903_096, "I prefer not to answer": 1_177_221,
}  # fmt: skip
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
DOMAIN_CONCEPTS = [
    (8507, "MALE", "Gender", "Gender", "Gender", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "F"),
    (45880669, "Male", "Observation", "PPI", "Answer", "SexAtBirth_Male"),
    (45878463, "Female", "Observation", "PPI", "Answer", "SexAtBirth_Female"),
    (9201, "Inpatient Visit", "Visit", "Visit", "Visit", "IP"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
    (9203, "Emergency Room Visit", "Visit", "Visit", "Visit", "ER"),
    (32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "OMOP4976890"),
    *[(cid, name, "Race", "Race", "Race", str(cid)) for name, cid in RACE_CONCEPTS.items() if cid],
    *[(cid, name, "Ethnicity", "Ethnicity", "Ethnicity", str(cid))
      for name, cid in ETHNICITY_CONCEPTS.items() if name.endswith("Latino")],
    *[(cid, f"{name.capitalize()} route", "Route", "SNOMED", "Qualifier Value", str(cid))
      for name, cid in ROUTES.items()],
]  # fmt: skip
CLINICAL_BASE, COMBO_BASE, PROCEDURE_BASE = 2_000_500_000, 2_000_590_000, 2_000_600_000
SPECIAL_BASE = 2_000_580_000  # topical doxepin, oral and transdermal selegiline
ICD10_BASE, ICD9_BASE = 35_200_000, 44_820_000
ANCESTOR_COLUMNS = (
    "ancestor_concept_id",
    "descendant_concept_id",
    "min_levels_of_separation",
    "max_levels_of_separation",
)
RELATIONSHIP_COLUMNS = ("concept_id_1", "concept_id_2", "relationship_id")
# products written as (name suffix, concept class, dose form); the route follows the form
ORAL_PRODUCTS = (
    ("10 MG Oral Tablet", "Clinical Drug", "Oral Tablet"),
    ("50 MG Oral Tablet", "Clinical Drug", "Oral Tablet"),
    ("10 MG Oral Tablet [Brand{k}]", "Branded Drug", "Oral Tablet"),
)
SELEGILINE_PRODUCTS = (  # transdermal: the antidepressant (histories use these)
    ("6 MG/24HR Transdermal System", "Clinical Drug", "Transdermal System"),
    ("9 MG/24HR Transdermal System", "Clinical Drug", "Transdermal System"),
    ("6 MG/24HR Transdermal System [Emsam]", "Branded Drug", "Transdermal System"),
)
SPECIAL_PRODUCTS = {  # not antidepressant exposures (drug_forms.tsv)
    "doxepin_topical": ("doxepin", "50 MG/ML Topical Cream", "Topical Cream"),
    "selegiline_oral": ("selegiline", "5 MG Oral Capsule", "Oral Capsule"),
}
FORM_ROUTE = {
    "Oral Tablet": "oral", "Oral Capsule": "oral", "Topical Cream": "topical",
    "Transdermal System": "transdermal", "Nasal Spray": "nasal",
}  # fmt: skip


@dataclass(frozen=True)
class Vocabulary:
    """Concept rows, ancestor and relationship rows, and the lookups the event writer needs."""

    concept_df: pd.DataFrame
    ancestor_df: pd.DataFrame
    relationship_df: pd.DataFrame
    ingredients: dict[str, int]  # name -> ingredient concept id
    products: dict[str, list[int]]  # ingredient name -> [clinical, clinical, branded] ids
    combos: dict[str, int]  # ingredient name -> combination product id containing it
    special: dict[str, int]  # SPECIAL_PRODUCTS key -> product id
    routes: dict[int, str]  # drug concept id -> route name of its dose form
    condition_ids: dict[tuple[str, str], int]  # (vocabulary, code) -> source concept id
    snomed_of: dict[tuple[str, str], int]  # (vocabulary, code) -> standard SNOMED concept id
    snomed_sources: dict[int, int]  # standard SNOMED id -> a non-standard SNOMED source id
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


@dataclass
class DrugRows:
    """Drug concept, ancestor and relationship rows as they are built."""

    concepts: list[dict] = field(default_factory=list)
    ancestors: list[tuple[int, int, int, int]] = field(default_factory=list)
    relationships: list[tuple[int, int, str]] = field(default_factory=list)
    routes: dict[int, str] = field(default_factory=dict)

    def product(
        self, cid: int, name: str, cls: str, form: str, parents: dict[int, int], code: int
    ) -> None:
        """A drug product: its concept, its ancestors (id -> levels) and its dose form."""
        self.concepts.append(concept_row(cid, name, "Drug", "RxNorm", cls, str(code), "S"))
        self.ancestors += [(parent, cid, lv, lv) for parent, lv in parents.items()]
        self.relationships.append((cid, DOSE_FORMS[form], "RxNorm has dose form"))
        self.routes[cid] = FORM_ROUTE[form]


def drug_concepts(ingredients: dict[str, int]) -> tuple[DrugRows, dict, dict, dict]:
    """Ingredient, product, combination and special (topical, oral selegiline) drug rows.

    Returns
    -------
    (rows, products, combos, special): the rows; ingredient -> its three product ids;
    ingredient -> a combination product containing it; SPECIAL_PRODUCTS key -> product id.
    """
    rows, products = DrugRows(), {}
    for k, (name, cid) in enumerate(sorted(ingredients.items())):
        rows.concepts.append(
            concept_row(cid, name, "Drug", "RxNorm", "Ingredient", str(800_000 + k), "S")
        )
        rows.ancestors.append((cid, cid, 0, 0))
        ids = [CLINICAL_BASE + 10 * k + j for j in range(3)]
        forms = SELEGILINE_PRODUCTS if name == "selegiline" else ORAL_PRODUCTS
        for j, (suffix, cls, form) in enumerate(forms):
            parents = {cid: 2, ids[0]: 1} if cls == "Branded Drug" else {cid: 1}
            label = f"{name} {suffix.format(k=k)}"
            rows.product(ids[j], label, cls, form, parents, 900_000 + 10 * k + j)
        products[name] = ids
    combos = {}
    for j, (a, b) in enumerate((("fluoxetine", "olanzapine"), ("amitriptyline", "perphenazine"))):
        cid = COMBO_BASE + j
        label = f"{a} 25 MG / {b} 6 MG Oral Capsule"
        parents = {ingredients[a]: 1, ingredients[b]: 1}
        rows.product(cid, label, "Clinical Drug", "Oral Capsule", parents, 990_000 + j)
        combos[a] = cid
    special = {}
    for j, (key, (name, suffix, form)) in enumerate(SPECIAL_PRODUCTS.items()):
        cid = SPECIAL_BASE + j
        label = f"{name} {suffix}"
        rows.product(cid, label, "Clinical Drug", form, {ingredients[name]: 1}, 995_000 + j)
        special[key] = cid
    for form, cid in DOSE_FORMS.items():
        rows.concepts.append(concept_row(cid, form, "Drug", "RxNorm", "Dose Form", str(cid), None))
    return rows, products, combos, special


def snomed_key(vocabulary: str, code: str) -> str:
    """The SNOMED_STANDARD key an ICD code maps to (the longest listed leading part)."""
    bare = code.replace(".", "")
    best = ("other", 0)
    for key, (_, _, prefixes) in SNOMED_STANDARD.items():
        for prefix in prefixes.split():
            icd10 = prefix[0].isalpha()
            if icd10 == (vocabulary == "ICD10CM") and bare.startswith(prefix):
                best = max(best, (key, len(prefix)), key=lambda kv: kv[1])
    return best[0]


def code_concepts() -> tuple[list[dict], list[tuple[int, int, str]], dict, dict, dict]:
    """ICD source concepts with their 'Maps to' standard SNOMED concepts, SNOMED concepts
    (standard, mapping to themselves, and non-standard sources), procedure concepts.

    Returns
    -------
    (concept rows, relationship rows, condition ids, SNOMED standard of each ICD code,
    procedure ids).
    """
    rows, relationships = [], []
    conditions, snomed_of, procedures = {}, {}, {}
    for key, (cid, name, _) in SNOMED_STANDARD.items():
        rows.append(
            concept_row(cid, name, "Condition", "SNOMED", "Clinical Finding", str(cid), "S")
        )
        relationships.append((cid, cid, "Maps to"))
        if key in SNOMED_SOURCES:
            source, source_name = SNOMED_SOURCES[key]
            rows.append(
                concept_row(
                    source, source_name, "Condition", "SNOMED", "Clinical Finding",
                    str(source), None,
                )
            )  # fmt: skip
            relationships.append((source, cid, "Maps to"))
    for vocab, codes, base in (
        ("ICD10CM", MDD_ICD10 + PSYCH_ICD10 + DISTRACTOR_ICD10 + FILLER_ICD10, ICD10_BASE),
        ("ICD9CM", MDD_ICD9 + PSYCH_ICD9 + DISTRACTOR_ICD9, ICD9_BASE),
    ):
        for k, code in enumerate(codes):
            cid, standard = base + k, SNOMED_STANDARD[snomed_key(vocab, code)][0]
            conditions[(vocab, code)], snomed_of[(vocab, code)] = cid, standard
            rows.append(
                concept_row(
                    cid, f"{vocab} {code}", "Condition", vocab, "5-char billing code", code, None
                )
            )
            relationships.append((cid, standard, "Maps to"))
    for k, (vocab, code) in enumerate(ECT_CODES + OTHER_PROCEDURES):
        procedures[(vocab, code)] = PROCEDURE_BASE + k
        rows.append(
            concept_row(
                PROCEDURE_BASE + k, f"{vocab} procedure {code}", "Procedure", vocab, "Procedure",
                code, "S",
            )
        )  # fmt: skip
    return rows, relationships, conditions, snomed_of, procedures


def build_vocabulary() -> Vocabulary:
    """Every concept the synthetic OMOP tables refer to, concept_ancestor and
    concept_relationship ('Maps to', 'RxNorm has dose form')."""
    drugs_df = read_drug_list()
    listed = drugs_df.dropna(subset=["concept_id"])
    ingredients = {
        n: int(c) for n, c in zip(listed["ingredient"], listed["concept_id"], strict=False)
    }
    ingredients |= UNLISTED_ANTIPSYCHOTICS | OTHER_INGREDIENTS
    drug_rows, products, combos, special = drug_concepts(ingredients)
    code_rows, code_relationships, conditions, snomed_of, procedures = code_concepts()
    antidepressants = drugs_df.loc[drugs_df["group"] == "antidepressant", "ingredient"].tolist()
    # a drug class above the ingredients: must not count by itself
    ancestors = [*drug_rows.ancestors, (ATC_ANTIDEPRESSANTS, ATC_ANTIDEPRESSANTS, 0, 0)]
    ancestors += [(ATC_ANTIDEPRESSANTS, ingredients[name], 1, 1) for name in antidepressants]
    extra = [
        concept_row(ATC_ANTIDEPRESSANTS, "ANTIDEPRESSANTS", "Drug", "ATC", "ATC 3rd", "N06A", "C")
    ]
    extra += [concept_row(c, n, d, v, cl, code, "S") for c, n, d, v, cl, code in DOMAIN_CONCEPTS]
    concept_df = pd.DataFrame(drug_rows.concepts + code_rows + extra)
    if concept_df["concept_id"].duplicated().any():
        raise AssertionError("duplicate concept ids in the simulated vocabulary")
    relationships = drug_rows.relationships + code_relationships
    return Vocabulary(
        concept_df=concept_df,
        ancestor_df=pd.DataFrame(ancestors, columns=list(ANCESTOR_COLUMNS)),
        relationship_df=pd.DataFrame(relationships, columns=list(RELATIONSHIP_COLUMNS)),
        ingredients=ingredients,
        products=products,
        combos=combos,
        special=special,
        routes=drug_rows.routes,
        condition_ids=conditions,
        snomed_of=snomed_of,
        snomed_sources={SNOMED_STANDARD[k][0]: v[0] for k, v in SNOMED_SOURCES.items()},
        procedure_ids=procedures,
        antidepressants=antidepressants,
        antipsychotics=drugs_df.loc[drugs_df["group"] == "antipsychotic", "ingredient"].tolist(),
    )
