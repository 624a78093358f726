"""`twinmem study`: capacity, persistence, length generalisation and where each memory looks.

Every point of a study trains one mechanism in both twins from the same canonical initial weights on
the same batches (``twinmem.train.train_twin``) and is written whole, as one JSON file, when both
twins are done; a study re-run in its directory resumes from the points it has. Modules:
``config`` (profiles, the sweep, checks), ``tasks`` (the synthetic tasks in each mechanism's
encoding), ``store`` (the output directory), ``run`` (training and measuring the points), ``plots``
and ``summary`` (figures and the markdown), ``cli`` (the command). None imports a framework at its
top: ``train_twin`` and ``evaluate`` import them when a twin is built.
"""

from twinmem.study.cli import add_parser, cmd_study

__all__ = ["add_parser", "cmd_study"]
