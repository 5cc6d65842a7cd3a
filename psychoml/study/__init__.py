"""Studies: a study file's administration, its analyses, and the result the report draws."""

from psychoml.study.spec import AnalysesSpec, ReportSpec, StudySpec, load_study

__all__ = ["AnalysesSpec", "ReportSpec", "StudySpec", "load_study"]
