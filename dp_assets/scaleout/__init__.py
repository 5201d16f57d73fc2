"""Scale-out: with ``DP_EXECUTOR=celery`` each step of a run (one stage of one video) is a task on
Dagster's ``dagster-celery`` executor, executed by ``dp worker`` processes on any machine.

``queues`` names the queue of a step (``gpu`` when it holds a GPU component, else ``cpu``);
``config`` holds the Celery settings both sides share and the check that the state every machine
reads (Dagster instance, DataProcessor database, DP_HOME) is shared; ``executor`` is the Dagster
executor of the process that orchestrates a run; ``app`` is the Celery app a worker runs (the
step task); ``worker`` starts and supervises one Celery worker per queue group (``dp worker``).
Importing this package, ``queues``, ``config`` or ``executor`` loads no Celery: only Celery mode does.
"""
