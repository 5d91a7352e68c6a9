"""Helpers shared by the tests that start real processes."""

from __future__ import annotations

from pathlib import Path

from tests.support_processes import PrivateRedis, SmtpSink, Worker, process_env


class Rig:
    """The processes one test runs, all torn down (also on failure) by the fixture."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.redis = PrivateRedis(directory / "redis")
        self.smtp: SmtpSink | None = None
        self.workers: list[Worker] = []

    def start_smtp(self, *, delay: float = 0.0) -> SmtpSink:
        self.smtp = SmtpSink(delay)
        self.smtp.start()
        return self.smtp

    def env(self) -> dict[str, str]:
        assert self.smtp is not None, "start the SMTP sink first"
        return process_env(
            broker_port=self.redis.port, smtp_port=self.smtp.port, var_dir=self.directory / "var"
        )

    def start_worker(self, name: str) -> Worker:
        worker = Worker(name, self.directory, self.env())
        self.workers.append(worker)
        worker.start()
        return worker

    def logs(self) -> str:
        parts = [worker.log() for worker in self.workers]
        parts.append(f"--- {self.redis.log_path} ---")
        parts.append(self.redis.log_path.read_text() if self.redis.log_path.exists() else "")
        return "\n".join(parts)

    def close(self) -> None:
        try:
            for worker in self.workers:
                worker.kill()
        finally:
            try:
                self.redis.stop()
            finally:
                if self.smtp is not None:
                    self.smtp.stop()
