"""The DPO paper's controlled sentiment generation (Rafailov et al. 2023, section 6.1, Figure 2, App. C.1) on a CPU.

SFT on IMDb review text (that model is pi_ref) -> K samples per review prefix -> VADER scores -> K-way rankings
-> one reference cache -> every method trained from pi_ref -> mean reward and KL(pi || pi_ref) of fresh samples on
held-out prefixes at intervals -> reward-KL frontier (PNG) and a table.
"""

from prefopt.experiments.sentiment.pipeline import run_experiment
from prefopt.experiments.sentiment.sizes import SIZES, ExperimentSize

__all__ = ["SIZES", "ExperimentSize", "run_experiment"]
