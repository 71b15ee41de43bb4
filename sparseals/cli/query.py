"""``sparseals recommend`` and ``sparseals similar``: ask a saved model, with original ids."""

from ._common import (CLIError, check_titles, load_titles, plain, position_of, print_json,
                      print_table, title_of)


def add_parsers(commands):
    recommend = commands.add_parser(
        "recommend", help="the best items for a user of a saved model",
        description="The n best items for one user (by the id used in the data file), leaving "
                    "out the items the user rated in training.")
    recommend.add_argument("model", metavar="MODEL", help="a model saved by sparseals fit")
    recommend.add_argument("--user", required=True, metavar="ID", help="user id (as in the data)")
    recommend.add_argument("--include-seen", action="store_true",
                           help="also rank the items the user rated in training")
    _common_options(recommend)
    recommend.set_defaults(run=run_recommend)

    similar = commands.add_parser(
        "similar", help="the items most similar to an item of a saved model",
        description="The n items whose factors have the largest cosine with the given item's.")
    similar.add_argument("model", metavar="MODEL", help="a model saved by sparseals fit")
    similar.add_argument("--item", required=True, metavar="ID", help="item id (as in the data)")
    _common_options(similar)
    similar.set_defaults(run=run_similar)


def _common_options(parser):
    parser.add_argument("-n", type=int, default=10, help="how many items (default 10)")
    parser.add_argument("--titles", metavar="PATH",
                        help="MovieLens titles: u.item, movies.dat, movies.csv or the folder (of "
                             "the data set the model was fitted on)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _load(args):
    """The saved model and the titles of ``--titles`` (None without it), checked to match."""
    from ..persistence import load

    titles = load_titles(args.titles)
    model = load(args.model)
    check_titles(titles, model.item_ids_, args.titles)
    return model, titles


def _check_n(n):
    if n < 1:
        raise CLIError(f"-n must be a positive number of items; got {n}")
    return n


def run_recommend(args):
    n = _check_n(args.n)
    model, titles = _load(args)
    user = position_of(model.user_ids_, args.user, "user", "--user")
    items, scores = model.recommend(user, n=n, exclude_seen=not args.include_seen)
    _show(model, items, scores, titles, args.json,
          {"user": plain(model.user_ids_[user])},
          lambda count: f"top {count} items for user {args.user}")
    return 0


def run_similar(args):
    n = _check_n(args.n)
    model, titles = _load(args)
    item = position_of(model.item_ids_, args.item, "item", "--item")
    items, scores = model.similar_items(item, n=n)
    subject = f"item {args.item}"
    title = title_of(titles, model.item_ids_[item])
    if title is not None:
        subject += f" ({title})"
    _show(model, items, scores, titles, args.json,
          {"item": plain(model.item_ids_[item]), "title": title},
          lambda count: f"{count} items most similar to {subject} (cosine of the factors)")
    return 0


def _show(model, items, scores, titles, as_json, subject, heading):
    keep = items >= 0  # recommend pads with -1 when fewer candidates are left
    rows = []
    for rank, (item, score) in enumerate(zip(items[keep], scores[keep]), start=1):
        item_id = plain(model.item_ids_[item])
        rows.append({"rank": rank, "item": item_id, "score": float(score),
                     "title": title_of(titles, item_id)})
    if as_json:
        if titles is None:
            subject.pop("title", None)
            for row in rows:
                row.pop("title")
        print_json({**subject, "items": rows})
        return
    print(heading(len(rows)))  # fewer than -n when too few candidates are left
    header = ["rank", "item", "score"] + (["title"] if titles is not None else [])
    print_table(header, [[row[name] for name in header] for row in rows], exact=[1])
