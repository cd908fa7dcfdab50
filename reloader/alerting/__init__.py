"""Outbound notifications of reloads: chat alerts and the ``--webhook-url`` call.

An edge like the Event recorder: the reloader decides, this package delivers. Formatting is
pure (``messages``); alerts go through a bounded queue drained in the background with retries
(``sending``), so a slow or dead chat service never delays or fails a reload. Webhook URLs are
credentials: nothing here logs one whole (``urls.redact``).
"""
