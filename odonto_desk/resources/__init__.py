"""Contract files: OpenAPI, StructureDefinitions of the Apex tooth extensions, the golden bundle."""
