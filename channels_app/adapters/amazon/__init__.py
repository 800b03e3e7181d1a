"""Amazon SP-API: ``mapping`` (pure: verify + normalize) and ``client`` (pull and write-back).

Only the pure part is re-exported: importing the package never imports the client.
"""

from channels_app.adapters.amazon.mapping import AmazonAdapter

__all__ = ["AmazonAdapter"]
