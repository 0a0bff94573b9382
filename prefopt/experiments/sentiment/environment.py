"""The environment a run was measured in: versions, device, CPU and threads, and how loaded the machine was."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import torch
import transformers

from prefopt.experiments.sentiment.rloo import trl_version


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what the platform reports."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def environment(device: torch.device) -> dict:
    """Versions of python, torch, transformers and trl; the device (and GPU name); the CPU, its cores, torch's
    threads; and the 1-minute load average when the run started (other jobs share the machine when it exceeds the
    cores)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl_version() or "not installed",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": f"{platform.system()} {platform.release()} ({sys.platform})",
    }


def describe(env: dict) -> str:
    """One line for the log."""
    return ", ".join(f"{key} {value}" for key, value in env.items())
