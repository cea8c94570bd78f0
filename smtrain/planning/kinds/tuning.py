"""Hyperparameter tuning jobs (CreateHyperParameterTuningJob): a search whose children are training jobs.

A tuning job has no container and no log of its own: its trials are training jobs named
``<tuning-job>-NNN-<8 hex>``, each with its own log under ``/aws/sagemaker/TrainingJobs``.
"""

from __future__ import annotations

from smtrain.planning.kinds.base import Column, JobKind

TUNING = JobKind(
    key="tuning",
    noun="tuning job",
    resource="HyperParameterTuningJob",
    create="CreateHyperParameterTuningJob",
    describe="DescribeHyperParameterTuningJob",
    stop="StopHyperParameterTuningJob",
    list="ListHyperParameterTuningJobs",
    name_key="HyperParameterTuningJobName",
    status_key="HyperParameterTuningJobStatus",
    arn_key="HyperParameterTuningJobArn",
    success=("Completed",),
    failure=("Failed", "Stopped"),
    log_group="",
    arn_type="hyper-parameter-tuning-job",
    # Step Functions' managed rule for createHyperParameterTuningJob.sync (AWS Step Functions developer
    # guide, "IAM policies for calling Amazon SageMaker AI": StepFunctionsGetEventsForSageMakerTuningJobsRule).
    sync_rule="StepFunctionsGetEventsForSageMakerTuningJobsRule",
    end_time_key="HyperParameterTuningEndTime",  # Describe has no start time: it starts when created
    columns=(Column("strategy", "HyperParameterTuningJobConfig.Strategy"),
             Column("best", "BestTrainingJob.TrainingJobName")),
    # The same guide's policy for the .sync task also lists the trials and reads the tags.
    extra_actions=("AddTags", "ListTags", "ListTrainingJobsForHyperParameterTuningJob"),
)
