"""Local endpoints: the API operations, the model container, its worker and the runtime gateway."""
