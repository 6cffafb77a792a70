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

// PodTopologySpread's NormalizeScore: ignored nodes score 0, the others
// 100 * (max + min - score) / max over the counted nodes, or 100 when every
// counted score is 0.
void normalize_spread(std::int64_t* scores, std::int64_t row_count, int column) {
    std::int64_t minimum = 0;
    std::int64_t maximum = 0;
    bool any = false;
    for (std::int64_t i = 0; i < row_count; ++i) {
        const std::int64_t score = scores[i * kScorePluginCount + column];
        if (score == kIgnoredNodeScore) {
            continue;
        }
        minimum = any ? (score < minimum ? score : minimum) : score;
        maximum = score > maximum ? score : maximum;
        any = true;
    }
    for (std::int64_t i = 0; i < row_count; ++i) {
        std::int64_t& score = scores[i * kScorePluginCount + column];
        if (score == kIgnoredNodeScore) {
            score = 0;
        } else if (maximum == 0) {
            score = kMaxNodeScore;
        } else {
            score = kMaxNodeScore * (maximum + minimum - score) / maximum;
        }
    }
}

// InterPodAffinity's NormalizeScore: map [min, max] to [0, 100] in floating
// point and truncate; all 0 when every score is equal.
void normalize_min_max(std::int64_t* scores, std::int64_t row_count, int column) {
    if (row_count == 0) {
        return;
    }
    std::int64_t minimum = scores[column];
    std::int64_t maximum = scores[column];
    for (std::int64_t i = 1; i < row_count; ++i) {
        const std::int64_t score = scores[i * kScorePluginCount + column];
        minimum = score < minimum ? score : minimum;
        maximum = score > maximum ? score : maximum;
    }
    const std::int64_t range = maximum - minimum;
    for (std::int64_t i = 0; i < row_count; ++i) {
        std::int64_t& score = scores[i * kScorePluginCount + column];
        if (range <= 0) {
            score = 0;
            continue;
        }
        const double fraction = static_cast<double>(score - minimum) / static_cast<double>(range);
        score = static_cast<std::int64_t>(static_cast<double>(kMaxNodeScore) * fraction);
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

void normalize_scores(std::int64_t* scores, std::int64_t row_count, const std::int8_t* modes) {
    for (int column = 0; column < kScorePluginCount; ++column) {
        if (modes[column] == kSpreadNormalization) {
            normalize_spread(scores, row_count, column);
        } else if (modes[column] == kMinMaxNormalization) {
            normalize_min_max(scores, row_count, column);
        } else if (modes[column] != kNoNormalization) {
            normalize_column(scores, row_count, column, modes[column] == kReverseNormalization);
        }
    }
}

std::int64_t pick_best(const std::int64_t* totals, std::int64_t row_count, std::uint64_t* rng_state) {
    std::int64_t selected = -1;
    std::int64_t best = 0;
    std::uint64_t ties = 0;
    for (std::int64_t i = 0; i < row_count; ++i) {
        const std::int64_t total = totals[i];
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

std::int64_t select_node(std::int64_t* scores, std::int64_t row_count,
                         const std::int64_t* weights, const std::int8_t* modes,
                         std::int64_t* totals, std::uint64_t* rng_state) {
    normalize_scores(scores, row_count, modes);
    for (std::int64_t i = 0; i < row_count; ++i) {
        std::int64_t total = 0;
        for (int column = 0; column < kScorePluginCount; ++column) {
            total += scores[i * kScorePluginCount + column] * weights[column];
        }
        totals[i] = total;
    }
    return pick_best(totals, row_count, rng_state);
}

}  // namespace pykube::scheduler
