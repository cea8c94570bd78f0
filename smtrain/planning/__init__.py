"""What the user asked for and the exact API requests it becomes, built without any I/O."""
