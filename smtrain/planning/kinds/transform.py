"""Batch transform jobs (CreateTransformJob): a model's predictions over whole datasets.

A transform job serves a model (CreateModel) with batch settings and sends it every record of
its input; each input object gives ``<object>.out`` under ``TransformOutput.S3OutputPath``.
Its containers log under ``/aws/sagemaker/TransformJobs`` (streams ``<job>/<instance>-<epoch>``;
https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
"""

from __future__ import annotations

from smtrain.planning.kinds.base import Column, JobKind

TRANSFORM = JobKind(
    key="transform",
    noun="transform job",
    resource="TransformJob",
    create="CreateTransformJob",
    describe="DescribeTransformJob",
    stop="StopTransformJob",
    list="ListTransformJobs",
    name_key="TransformJobName",
    status_key="TransformJobStatus",
    arn_key="TransformJobArn",
    success=("Completed",),
    failure=("Failed", "Stopped"),
    log_group="/aws/sagemaker/TransformJobs",
    arn_type="transform-job",
    # Step Functions' managed rule for createTransformJob.sync (AWS Step Functions developer guide,
    # "IAM policies for calling Amazon SageMaker AI": StepFunctionsGetEventsForSageMakerTransformJobsRule).
    sync_rule="StepFunctionsGetEventsForSageMakerTransformJobsRule",
    start_time_key="TransformStartTime",
    end_time_key="TransformEndTime",
    columns=(Column("instance", "TransformResources.InstanceType"), Column("model", "ModelName")),
    # Step Functions tags a job it runs with .sync (MANAGED_BY_AWS) and reads its tags: the role needs AddTags
    # and ListTags (aws-cdk #26012; the createTransformJob.sync policy of the Step Functions guide).
    extra_actions=("AddTags", "ListTags"),
)
