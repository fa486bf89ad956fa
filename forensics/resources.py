"""Per-process memory caps for the isolated workers (audit and service): one file or upload at a time may
grow the process by a fixed budget, and no more."""
from __future__ import annotations


def vm_size() -> int | None:
    """This process's virtual size in bytes (Linux /proc), or None where it cannot be read."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def set_memory_cap(memory_bytes: int) -> int | None:
    """RLIMIT_AS = this process's current size + ``memory_bytes`` (Linux); returns the cap, or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return None
    base = vm_size()
    if base is None:  # no /proc (macOS): RLIMIT_AS is not enforced there anyway
        return None
    cap = base + memory_bytes
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        return None
    return cap
