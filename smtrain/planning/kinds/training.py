"""Training jobs (CreateTrainingJob): the scikit-learn framework image or a custom ECR image."""

from __future__ import annotations

from smtrain.planning.kinds.base import Column, JobKind

TRAINING = JobKind(
    key="training",
    noun="training job",
    resource="TrainingJob",
    create="CreateTrainingJob",
    describe="DescribeTrainingJob",
    stop="StopTrainingJob",
    list="ListTrainingJobs",
    name_key="TrainingJobName",
    status_key="TrainingJobStatus",
    arn_key="TrainingJobArn",
    success=("Completed",),
    failure=("Failed", "Stopped"),
    log_group="/aws/sagemaker/TrainingJobs",
    arn_type="training-job",
    sync_rule="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    start_time_key="TrainingStartTime",
    end_time_key="TrainingEndTime",
    duration_keys=("TrainingTimeInSeconds", "BillableTimeInSeconds"),
    columns=(Column("instance", "ResourceConfig.InstanceType"),),
)
