"""The API's request and response models, one module per resource (the route module of
the same name uses them); pydantic shapes every answer, so they are the OpenAPI schema too."""
