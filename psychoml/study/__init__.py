"""Studies: a study file's administration, its analyses, and the result the report draws."""

from psychoml.study.analyse import RESPONDENT, StudyResult, analyse
from psychoml.study.run import analyse_store, resolve_path, run_study, study_instruments, study_norms
from psychoml.study.spec import AnalysesSpec, NormsFile, ReportSpec, StudySpec, load_study

__all__ = [
    "RESPONDENT",
    "AnalysesSpec",
    "NormsFile",
    "ReportSpec",
    "StudyResult",
    "StudySpec",
    "analyse",
    "analyse_store",
    "load_study",
    "resolve_path",
    "run_study",
    "study_instruments",
    "study_norms",
]
