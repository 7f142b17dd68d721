"""The engine: invocations, the store, the event bus, workers, pools and the scheduler.

No HTTP here: the layers above call into it.
"""
