"""The pure session core: timestamped samples in, decisions out.

Nothing here imports asyncio, gpiozero, aiomqtt or sqlite3, and nothing here
reads a clock: time is whatever the samples say.  That keeps the safety logic
exact, fast and property-testable; the runtime around it does the I/O.  Import from the modules
(``firmware.session.controller``, ``.decisions``, ``.states``).
"""
