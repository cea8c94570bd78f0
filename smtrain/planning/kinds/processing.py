"""Processing jobs (CreateProcessingJob): a script over inputs copied to /opt/ml/processing, outputs uploaded
from there -- data preparation and model evaluation.

Names and states from botocore's SageMaker model (DescribeProcessingJob: ProcessingJobStatus InProgress,
Completed, Failed, Stopping, Stopped; ProcessingStartTime/ProcessingEndTime; no billable seconds).
"""

from __future__ import annotations

from smtrain.planning.kinds.base import Column, JobKind

PROCESSING = JobKind(
    key="processing",
    noun="processing job",
    resource="ProcessingJob",
    create="CreateProcessingJob",
    describe="DescribeProcessingJob",
    stop="StopProcessingJob",
    list="ListProcessingJobs",
    name_key="ProcessingJobName",
    status_key="ProcessingJobStatus",
    arn_key="ProcessingJobArn",
    success=("Completed",),
    failure=("Failed", "Stopped"),
    # SageMaker writes a processing job's container output to this group, one stream per host
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
    log_group="/aws/sagemaker/ProcessingJobs",
    arn_type="processing-job",
    # Step Functions' managed rule for createProcessingJob.sync (AWS Step Functions developer guide,
    # "IAM policies for calling Amazon SageMaker AI": StepFunctionsGetEventsForSageMakerProcessingJobsRule).
    sync_rule="StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    start_time_key="ProcessingStartTime",
    end_time_key="ProcessingEndTime",
    columns=(Column("instance", "ProcessingResources.ClusterConfig.InstanceType"),),
)
