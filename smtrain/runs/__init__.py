"""Runs: one record per training job, local or on SageMaker, to list, show, compare and check out.

    provenance.py   what a run records at submission: git commit and dirty flag, versions, user tags
    record.py       :class:`Run`, one row of ``smtrain ls``, built from a DescribeTrainingJob-shaped body
    local.py        the local store, read-only and fast (one small row per run, straight from SQLite)
    sagemaker.py    SageMaker jobs from the Search API (smtrain's tag), metric history from CloudWatch
    query.py        filters, sorting and limits shared by ``ls`` and :meth:`smtrain.api.session.Session.runs`
    compare.py      ``show``/``diff`` material: hyperparameter and metric deltas, source diffs
    costs.py        estimated cost from instance prices kept as data

Nothing here is imported by ``smtrain --help``; listing local runs imports neither boto3 nor pandas.
"""
