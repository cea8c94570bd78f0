"""Step Functions: the fit -> gate -> register -> deploy plans as one state machine.

``export`` turns the plans into an Amazon States Language document (and a
CloudFormation template), ``runner`` executes that document against a
SageMaker-shaped client (the local backend, or boto3 pointed at moto or AWS).
"""
