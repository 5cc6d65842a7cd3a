"""Studies: a study file's administration, its analyses, and the result the report draws."""

from psychoml.study.analyse import RESPONDENT, StudyResult, analyse
from psychoml.study.run import analyse_store, resolve_path, run_study, study_instruments
from psychoml.study.spec import AnalysesSpec, ReportSpec, StudySpec, load_study

__all__ = [
    "AnalysesSpec",
    "ReportSpec",
    "StudySpec",
    "load_study",
    "StudyResult",
    "analyse",
    "RESPONDENT",
    "analyse_store",
    "run_study",
    "resolve_path",
    "study_instruments",
]
