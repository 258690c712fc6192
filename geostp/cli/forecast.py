"""`geostp forecast`: predict with a trained run on a store; write a CF Zarr, a map and scores."""

from __future__ import annotations

import os

import click

from geostp.cli.options import storage_options_option, zarr_format_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", required=True, metavar="NAME",
              help="Registered model name (see `geostp models`), e.g. vip_mixer, simvpv2, convlstm.")
@click.option("--var", "variables", multiple=True, required=True, metavar="NAME",
              help="Variable(s) to forecast, repeatable: --var t850 --var z500 (store short names).")
@click.option("--run", "run", type=click.Path(file_okay=False), default=None,
              help="Run directory to use (default: the latest run of --model trained on --var; on the sample, "
                   "a small run is trained and cached when none exists).")
@click.option("--data", default=None, metavar="STORE",
              help="Input data: a geostp store path, a URL (gs://, s3://, https://) or `sample` (default: the "
                   "embedded synthetic sample, built on first use).")
@click.option("--init", "init", multiple=True, metavar="SPEC",
              help="Init times, repeatable: a split (test, valid, train: every init whose inputs and leads lie "
                   "in it), `all` (every time with enough history), one time 2018-03-01T00, a range "
                   "2018-03-01/2018-03-31 or 2018-03-01/2018-03-31/12h. Default: the test split at 00 and 12 UTC "
                   "(WeatherBench2's init hours; every step for video and traffic).")
@click.option("--lead", default=None, metavar="STEP",
              help="Forecast horizon, e.g. 72h, 5d, month, 6month, year, or 20f (frames). Beyond the run's T_out "
                   "the model rolls out autoregressively on its own predictions. Default: the run's T_out.")
@click.option("--t-in", "t_in", type=click.IntRange(min=1), default=None, metavar="N",
              help="Input frames of the quick run trained when no run fits the data (default per time step: "
                   "4 sub-daily, 10 daily, 12 monthly, 5 yearly; T_out: --lead, else 12, 10, 12, 5; 6 and 6 on "
                   "monthly or yearly grids over 64 x 128 points, e.g. 73 x 144). On monthly and yearly data it "
                   "learns anomalies from the train split's climatology per calendar month.")
@click.option("--quick-steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Training steps of that quick run, and of each --ensemble seeds member's training (default: the "
                   "recipe's 400, 200 on monthly or yearly grids over 64 x 128 points; a seeds member: its run's "
                   "own; fewer for a smoke test).")
@click.option("--out", type=click.Path(), default=None,
              help="Output Zarr (default: RUN_DIR/forecasts/<vars>-<init>-<lead>-<key>.zarr, reused when asked again).")
@click.option("--plot/--no-plot", default=True, show_default=True,
              help="Draw a map (forecast | truth | error) of the first init at the last lead next to the Zarr.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Init times per written block (memory grows with it); on the CPU the model itself runs on at most 8 at a time "
                   "(S-HR-VQVAE: 128), which keeps its activations in the cache.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out (the old one is kept until the new one is complete).")
@click.option("--append", is_flag=True,
              help="Add new init times to an existing --out (earlier ones kept bit for bit; ones present are skipped).")
@click.option("--no-score", is_flag=True, help="Skip scoring against the data, persistence and climatology.")
@click.option("--wait", is_flag=True,
              help="If another process is writing --out, wait for it instead of stopping (the default output always waits).")
@click.option("--members", type=click.IntRange(min=1), default=1, show_default=True,
              help="Ensemble members; > 1 adds a `member` dim (CF realization) and CRPS/spread scores. "
                   "Example: --members 8")
@click.option("--ensemble", "ensemble", type=click.Choice(["auto", "perturb", "seeds", "crps", "sample"]), default="auto",
              show_default=True,
              help="How members are made: perturb = initial-condition perturbations, spatially correlated noise "
                   "scaled by the train-split statistics (see --perturb-amplitude); seeds = member k is the run's "
                   "config trained again with train.seed + k (N - 1 quick trainings, cached); crps = draws of a run "
                   "trained with train.objective crps (without --run: the CRPS quick-start recipe, trained once and "
                   "cached); sample = draws of a model that samples its output (S-HR-VQVAE's PixelCNN codes, see "
                   "--temperature); auto = crps for a CRPS run, sample for S-HR-VQVAE, else perturb.")
@click.option("--perturb-amplitude", type=click.FloatRange(min=0), default=0.1, show_default=True,
              help="perturb: noise standard deviation in units of each variable's train-split standard deviation.")
@click.option("--temperature", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="sample: temperature of the sampled codes, softmax(logits / T); 0 = greedy, every member alike.")
@click.option("--init-chunk", type=click.IntRange(min=1), default=None, metavar="N",
              help="Init times per Zarr chunk of a new --out (default: chunks of about 8 MB). Under "
                   "`accelerate launch`, processes split the init times at chunk boundaries.")
@zarr_format_option
@storage_options_option
def forecast(model: str, variables: tuple[str, ...], run: str | None, data: str | None, init: tuple[str, ...],
             lead: str | None, t_in: int | None, quick_steps: int | None, out: str | None, plot: bool, device: str,
             batch_size: int, overwrite: bool, append: bool, no_score: bool, wait: bool, members: int, ensemble: str,
             perturb_amplitude: float, temperature: float, init_chunk: int | None, zarr_format: int | None) -> None:
    """Forecast VARIABLES with MODEL and write a CF Zarr in physical units.

    The output has dims (init_time, lead_time, lat, lon) per variable (video and traffic: one `frames`
    variable with (init_time, lead_time, channel, y, x)), a valid_time(init_time, lead_time) coordinate
    and the model, run, config hash and data source in its attributes. At the end it prints where the
    Zarr and the map are, and the latitude-weighted RMSE at each lead next to persistence and
    climatology on the same init times, with 95% bootstrap intervals.

    \b
    Examples:
      geostp forecast --model vip_mixer --var t850
      geostp forecast --model vip_mixer --var t850 --lead 5d --init 2018-01-01/2018-01-31
      geostp forecast --model simvpv2 --var z500 --run runs/simvpv2-wb --data wb5.625.zarr --out fc.zarr
      geostp forecast --model vip_mixer --var t850 --init 2018-06-01/2018-06-30 --out fc.zarr --append
      geostp forecast --model vip_mixer --var t850 --members 8 --init 2018-01-01/2018-01-31
      geostp forecast --model vip_mixer --var air --data ncep_monthly.zarr --t-in 12 --lead 6month
    """
    from geostp.workflows.forecast import ForecastRequest, run_forecast, summary_lines

    req = ForecastRequest(model=model, variables=list(variables), run=run, data=data, init=list(init) or None,
                          lead=lead, t_in=t_in, quick_steps=quick_steps, out=out, plot=plot, device=device,
                          batch_size=batch_size, overwrite=overwrite, append=append, score=not no_score, wait=wait,
                          members=members, ensemble=ensemble, perturb_amplitude=perturb_amplitude, temperature=temperature,
                          zarr_format=zarr_format, init_chunk=init_chunk)
    result = run_forecast(req, echo=click.echo)
    if int(os.environ.get("RANK", "0")) == 0:  # under `accelerate launch`, rank 0 reports for all
        click.echo("\n".join(summary_lines(result, variables)))
