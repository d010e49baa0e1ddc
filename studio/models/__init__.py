"""Models: the picker and catalog the commands read (`service`), installs, imports and exports (`admin`)."""
