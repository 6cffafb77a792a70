// Score normalisation, weighting and host selection.
// kernels.h describes the arrays; _reference.py is the pure-Python twin.
#include "scheduler/kernels.h"

namespace pykube::scheduler {
namespace {

// kube-scheduler's DefaultNormalizeScore: scale so the largest score becomes
// 100, then take 100 minus it when reversed. With all scores 0 a reversed
// plugin gives every node 100 and a plain one leaves them at 0.
void normalize_column(std::int64_t* scores, std::int64_t row_count, int column, bool reverse) {
    std::int64_t maximum = 0;
    for (std::int64_t i = 0; i < row_count; ++i) {
        const std::int64_t score = scores[i * kScorePluginCount + column];
        if (score > maximum) {
            maximum = score;
        }
    }
    for (std::int64_t i = 0; i < row_count; ++i) {
        std::int64_t& score = scores[i * kScorePluginCount + column];
        if (maximum == 0) {
            score = reverse ? kMaxNodeScore : score;
            continue;
        }
        score = kMaxNodeScore * score / maximum;
        if (reverse) {
            score = kMaxNodeScore - score;
        }
    }
}

}  // namespace

std::uint64_t splitmix64_next(std::uint64_t* state) {
    *state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

std::int64_t select_node(std::int64_t* scores, std::int64_t row_count,
                         const std::int64_t* weights, const std::int8_t* modes,
                         std::int64_t* totals, std::uint64_t* rng_state) {
    for (int column = 0; column < kScorePluginCount; ++column) {
        if (modes[column] != kNoNormalization) {
            normalize_column(scores, row_count, column, modes[column] == kReverseNormalization);
        }
    }
    std::int64_t selected = -1;
    std::int64_t best = 0;
    std::uint64_t ties = 0;
    for (std::int64_t i = 0; i < row_count; ++i) {
        std::int64_t total = 0;
        for (int column = 0; column < kScorePluginCount; ++column) {
            total += scores[i * kScorePluginCount + column] * weights[column];
        }
        totals[i] = total;
        if (selected < 0 || total > best) {
            selected = i;
            best = total;
            ties = 1;
        } else if (total == best) {
            // Reservoir sampling: the k-th tied row replaces the choice with
            // probability 1/k, so every tied row is equally likely, up to a
            // modulo bias of at most k / 2^64.
            ++ties;
            if (splitmix64_next(rng_state) % ties == 0) {
                selected = i;
            }
        }
    }
    return selected;
}

}  // namespace pykube::scheduler
