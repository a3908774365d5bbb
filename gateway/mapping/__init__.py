"""The attribute schema (DESIGN §5): how directory attributes become SessionTalk SIP accounts.

``spec`` is the schema's data model, ``presets`` loads the TOML presets and site files,
``mapper`` is the pure function ``DirectoryUser + AttributeSchema -> SIP accounts``.
"""
