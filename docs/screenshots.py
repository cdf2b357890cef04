"""Make the README's screenshots of ``artreg ui``: ``python docs/screenshots.py``.

Logs the demo plus a retrained model and an evaluation into a temporary registry, serves
it with ``artreg ui`` and photographs two pages with headless chromium (the same set-up as
``tests/test_browser.py``); writes ``docs/ui-version.png`` and ``docs/ui-compare.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

import artreg  # noqa: E402
from artreg._demo import run_demo  # noqa: E402


def build(path: str) -> None:
    with artreg.open(path, user="mia") as reg:
        run_demo(reg)
        data = reg.artifact("zoo/zoo_dataset:latest")
        more = data.new_draft()
        with more.new_file("zoo.csv", overwrite=True) as f:
            f.write("animal,legs,hair,mammal\n" + "".join(f"animal{i},4,1,1\n" for i in range(120)))
        with more.new_file("images/readme.txt") as f:
            f.write("photos to come")
        more.metadata = {"rows": 120, "source": "field survey 2026"}
        with reg.init("zoo", job_type="prepare", name="prepare-zoo-2") as run:
            new_data = run.log_artifact(more, aliases=["demo"], tags=["survey"])
        with reg.init("zoo", job_type="train", name="train-zoo-2", config={"seed": 1}) as run:
            run.use_artifact(new_data)
            model = artreg.Artifact("zoo_classifier", type="model", metadata={"trained_on": new_data.qualified_name,
                                                                             "weights": {"legs": 4.0, "hair": 1.0}})
            with model.new_file("model.json") as f:
                f.write('{"legs": 4.0, "hair": 1.0}')
            retrained = run.log_artifact(model, aliases=["candidate"])
        with reg.init("zoo", job_type="evaluate", name="evaluate-zoo") as run:
            run.use_artifact(retrained)
            run.use_artifact(new_data)
            report = artreg.Artifact("zoo_report", type="report", metadata={"accuracy": 0.97})
            with report.new_file("report.md") as f:
                f.write("# accuracy 0.97\n")
            run.log_artifact(report)
        retrained.link("wandb-registry-model/Zoo_Classifier", aliases=["production"])


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "reg")
        build(path)
        env = {**os.environ, "PYTHONPATH": ROOT}
        server = subprocess.Popen([sys.executable, "-m", "artreg", "--registry", path, "--user", "mia", "ui", "--port", "0"],
                                  stdout=subprocess.PIPE, text=True, env=env)
        assert server.stdout is not None
        base = server.stdout.readline().split(" at ")[1].split()[0].rstrip("/")
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={folder}/profile", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            for name, page, height in (("ui-version.png", "/versions/zoo/zoo_classifier:v1", 1240),
                                       ("ui-compare.png", "/compare?a=zoo/zoo_dataset:v0&b=zoo/zoo_dataset:v1", 760)):
                driver.set_window_size(1200, height)
                driver.get(base + page)
                time.sleep(0.3)
                driver.save_screenshot(os.path.join(ROOT, "docs", name))
                print("wrote", os.path.join("docs", name))
        finally:
            driver.quit()
            server.terminate()
            server.communicate(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
