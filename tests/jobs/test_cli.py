"""The CLI turns bad input into one clear line and exit code 2, not a stack trace."""

import pytest

from jobs.cli import main


def test_unknown_source_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["pipeline", "--source", "netflix"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'netflix'" in capsys.readouterr().err


def test_unknown_config_key_is_a_clear_error(tmp_path, capsys):
    assert main(["ingest", "--workdir", str(tmp_path), "--set", "models.als.factorz=3"]) == 2
    err = capsys.readouterr().err
    assert "movierec ingest: error: invalid configuration" in err and "factorz" in err
    assert "Traceback" not in err


@pytest.mark.spark
def test_malformed_ratings_file_is_a_clear_error(spark, tmp_path, capsys):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user;movie;rating\n1;2;3\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n2,Beta (2001),Comedy\n")
    code = main(["pipeline", "--source", "movielens", "--data-dir", str(folder), "--workdir", str(tmp_path / "wd"),
                 "--report", str(tmp_path / "report.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "ratings.csv line 1: header 'user;movie;rating' is not 'userId,movieId,rating,timestamp'" in err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.spark
def test_missing_folder_is_a_clear_error(spark, tmp_path, capsys):
    assert main(["ingest", "--data-dir", str(tmp_path / "nowhere"), "--workdir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
