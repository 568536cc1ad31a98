"""The README's main job, as a new user runs it: short, and ending with the verdict and the report."""
from __future__ import annotations


def test_the_readme_main_job_prints_fewer_than_150_lines(main_job):
    assert main_job.rc == 0, main_job.out[-3000:] + main_job.err[-2000:]
    assert len(main_job.out.splitlines()) < 150, main_job.out


def test_the_main_job_ends_with_the_downtime_verdict_and_where_the_report_is(main_job):
    *_, verdict, report = main_job.out.rstrip("\n").splitlines()
    assert verdict.startswith("Downtime report: ") and verdict.endswith("(zero downtime).")
    assert report == f"report: {main_job.run_dir / 'report.html'}"
    assert (main_job.run_dir / "report.html").is_file()


def test_the_main_job_keeps_all_step_output_in_the_run_directory(main_job):
    assert '"kind": "PodList"' not in main_job.out and '"items"' not in main_job.out
    pods = (main_job.run_dir / "output" / "all-pods.out").read_text()
    assert '"items"' in pods
