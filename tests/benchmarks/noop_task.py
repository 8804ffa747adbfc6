"""A bench-only Celery task: the bare round trip the platform's overhead is compared with."""
from celery import shared_task


@shared_task(name="provisor.bench_noop", ignore_result=False)
def bench_noop(x):
    return x
