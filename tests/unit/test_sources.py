import pytest

from jobs.sources.movielens import SourceError, find_ratings, movie_documents


def test_bad_ratings_header_is_a_clear_error(tmp_path):
    (tmp_path / "ratings.csv").write_text("user,movie,stars,when\n1,2,3,4\n")
    with pytest.raises(SourceError, match="ratings.csv line 1: header 'user,movie,stars,when'"):
        find_ratings(tmp_path)


def test_folder_without_ratings_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not a MovieLens folder"):
        find_ratings(tmp_path)


def test_movielens_titles_and_years_without_tmdb(tmp_path):
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"American President, The (1995)",(no genres listed)\n')
    docs = movie_documents(tmp_path, None)
    assert docs[0]["title"] == "Toy Story" and docs[0]["year"] == 1995
    assert [g["name"] for g in docs[0]["genres"]] == ["Animation", "Comedy"]
    assert docs[1]["genres"] == []
