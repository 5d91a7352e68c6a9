"""Readers for the formats the registry imports: each turns a source file into rows
of the registry's own field names (`ImportRow`), and nothing more. Deciding what to
create, update or flag is the import service's job (registry.services.imports)."""
