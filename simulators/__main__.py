"""`python -m simulators generate [--seed 42] [--scale 1] [--years 2] [--end-date YYYY-MM-DD]`

Builds the world and writes every store, file, the ERP schema and the ground truth from
scratch. Defaults come from SIM_SEED, SIM_SCALE, SIM_YEARS and SIM_END_DATE (else yesterday in
Paris); destinations from SIM_DATA_DIR, GROUND_TRUTH_DIR, CTI_LANDING_DIR and ERP_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date, datetime
from pathlib import Path

from simulators import stores
from simulators.cti import default_landing_dir
from simulators.export import Destinations, generate
from simulators.world.config import PARIS, WorldConfig, default_end_date

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m simulators")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="build the world and write every source and the ground truth")
    gen.add_argument("--seed", type=int, default=int(env.get("SIM_SEED", 42)), help="default SIM_SEED or 42")
    gen.add_argument(
        "--scale", type=float, default=float(env.get("SIM_SCALE", 1)), help="size multiplier; default SIM_SCALE or 1"
    )
    gen.add_argument(
        "--years", type=int, default=int(env.get("SIM_YEARS", 2)), help="exported history; default SIM_YEARS or 2"
    )
    end_date = env.get("SIM_END_DATE")
    gen.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=date.fromisoformat(end_date) if end_date else default_end_date(datetime.now(PARIS)),
        help="last exported day; default SIM_END_DATE or yesterday in Paris",
    )
    gen.add_argument("--erp-schema", default="dbo", help="schema of the simulated Sage database (default dbo)")
    args = parser.parse_args(argv)

    if not env.get("ERP_DATABASE_URL"):
        parser.error("ERP_DATABASE_URL is not set (scripts/run.sh exports the local one)")
    destinations = Destinations(
        data_dir=stores.sim_data_dir(),
        ground_truth_dir=Path(env.get("GROUND_TRUTH_DIR", REPO / ".local" / "ground_truth")),
        landing_dir=default_landing_dir(),
        database_url=env["ERP_DATABASE_URL"],
        erp_schema=args.erp_schema,
    )
    config = WorldConfig(end_date=args.end_date, seed=args.seed, scale=args.scale, years=args.years)
    generate(config, destinations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
