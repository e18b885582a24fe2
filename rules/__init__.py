"""The company's archive rules made real (档案管理制度), over the archive's index.

What an archive must hold and the monthly check of every archive
(:mod:`rules.checklist`, :mod:`rules.reconcile`); owners' requests under PIPL
and their working-day deadlines (:mod:`rules.requests`, :mod:`rules.workdays`,
:mod:`rules.subject_export`). Plain Python, no Prefect and no web framework:
the command line, the deployments and the service call the same functions.
"""
