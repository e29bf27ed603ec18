"""Where the other layers find the runtime clients, and how they start them."""

from __future__ import annotations

from lambent.runtimes import BOOTSTRAP_ARGV, RUNTIME_MOUNT, runtime_dir


def test_each_language_folder_holds_the_bootstrap_its_argv_starts() -> None:
    for language, argv in BOOTSTRAP_ARGV.items():
        script = argv[-1]
        assert script.startswith(RUNTIME_MOUNT + "/")
        assert (runtime_dir(language) / script.rsplit("/", 1)[1]).is_file()


def test_python_bootstrap_is_started_without_site_packages_and_unbuffered() -> None:
    assert BOOTSTRAP_ARGV["python"][1:3] == ("-S", "-u")
