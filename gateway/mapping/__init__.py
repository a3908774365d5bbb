"""The attribute schema (DESIGN §5): how directory attributes become SessionTalk SIP accounts.

- ``spec``: the schema's data model (sources, refinements, conditions, accounts, profile);
- ``text``: the small text language inside a field (templates, regex extracts, transforms);
- ``layering`` and ``presets``: loading presets and site files, a site file layered over its base
  preset, every problem traced to the file and key it came from;
- ``fields`` and ``mapper``: the pure function ``DirectoryUser + AttributeSchema -> SIP accounts``;
- ``export``: the effective schema written back out (``schema show``), secrets masked.
"""
