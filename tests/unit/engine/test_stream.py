from collections import Counter

from prefopt.engine.stream import epoch_permutation, step_micro_batches, stream_slice


def test_stream_visits_every_example_once_per_epoch():
    n = 7
    stream = stream_slice(n, seed=3, start=0, count=3 * n)
    for epoch in range(3):
        assert sorted(stream[epoch * n : (epoch + 1) * n]) == list(range(n))


def test_stream_slice_is_a_window_of_the_same_stream():
    whole = stream_slice(10, seed=1, start=0, count=35)
    assert stream_slice(10, seed=1, start=13, count=11) == whole[13:24]


def test_epochs_are_shuffled_differently():
    assert epoch_permutation(50, 0, 0) != epoch_permutation(50, 0, 1)


def test_processes_split_a_step_without_overlap():
    world, micro, batch = 2, 2, 8
    per_rank = [step_micro_batches(20, 0, 5, batch, micro, rank, world) for rank in range(world)]
    seen = [i for rank in per_rank for mb in rank for i in mb]
    assert Counter(seen) == Counter(stream_slice(20, 0, 5 * batch, batch))
    assert all(len(mb) == micro for rank in per_rank for mb in rank)
    assert [len(rank) for rank in per_rank] == [batch // (micro * world)] * world
