"""One module per resource family. Importing a module registers its mapper;
:func:`odonto_desk.fhir.mapping.load_all` imports them all (a screen that needs one family imports
only that module, which keeps the app's start fast)."""
