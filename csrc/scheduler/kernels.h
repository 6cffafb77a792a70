// Filter, score and select kernels of the scheduler over a dense node table.
//
// pykube_core/scheduler/node_table.py keeps one row per node: int64 resource
// columns in a fixed order (cpu in milli-units, memory and ephemeral-storage
// in bytes, pods, then extended resources), and CSR arrays for the ragged
// per-node data (labels, taints, host ports, images). Strings are interned
// to int32 ids by one interner shared by all of them. pykube_core/scheduler/
// pod_arrays.py compiles a pod against the same interner. The pure-Python
// twin, pykube_core/scheduler/_reference.py, has the same semantics and the
// same codes; keep the two in step.
//
// The kernels touch no Python object, so the bindings release the GIL
// around them. All memory is borrowed from the caller for one call.
#pragma once

#include <cstdint>

namespace pykube::scheduler {

// Filter status per node, in the order kube-scheduler ranks them.
enum Status : std::int8_t {
    kFits = 0,
    kUnschedulable = 1,                  // may fit after preemption
    kUnschedulableAndUnresolvable = 2,  // preemption cannot help
};

// Filter plugins in the order of kube-scheduler's default profile; a node
// reports the first plugin that rejects it.
enum FilterPlugin : std::int8_t {
    kNoPlugin = 0,
    kNodeUnschedulable = 1,
    kNodeName = 2,
    kTaintToleration = 3,
    kNodeAffinity = 4,
    kNodePorts = 5,
    kNodeResourcesFit = 6,
    kPodTopologySpread = 7,
    kInterPodAffinity = 8,
    // Volume plugins run after NodeResourcesFit and before PodTopologySpread
    // in kube-scheduler; their codes come last so earlier codes keep their values.
    kVolumeBinding = 9,
    kVolumeZone = 10,
};

// Pod::volume_conflicts per node: which volume filter rejects it, if any.
enum VolumeConflict : std::int8_t {
    kNoVolumeConflict = 0,
    kVolumeNodeAffinityConflict = 1,  // VolumeBinding: a bound PV's node affinity
    kVolumeZoneConflict = 2,          // VolumeZone: a bound PV's zone or region labels
};

// FilterOutput.detail of a node that PodTopologySpread rejects.
enum SpreadFailure : std::int8_t {
    kSpreadSkew = 0,
    kSpreadMissingLabel = 1,
};

// FilterOutput.detail of a node that InterPodAffinity rejects.
enum AffinityFailure : std::int8_t {
    kAffinityMismatch = 0,
    kAntiAffinityMismatch = 1,
    kExistingAntiAffinityMismatch = 2,
};

// Columns of the raw and normalised score matrices.
enum ScorePlugin : int {
    kScoreTaintToleration = 0,
    kScoreNodeAffinity = 1,
    kScoreNodeResourcesFit = 2,
    kScoreBalancedAllocation = 3,
    kScoreImageLocality = 4,
    kScorePodTopologySpread = 5,
    kScoreInterPodAffinity = 6,
    kScorePluginCount = 7,
};

// Raw PodTopologySpread score of a node the plugin ignores; it normalises to 0.
constexpr std::int64_t kIgnoredNodeScore = -1;

enum TaintEffect : std::int8_t {
    kNoSchedule = 0,
    kPreferNoSchedule = 1,
    kNoExecute = 2,
    kOtherEffect = 3,
    kAnyEffect = -1,  // a toleration with an empty effect
};

enum TolerationOp : std::int8_t {
    kTolerationEqual = 0,
    kTolerationExists = 1,
    kTolerationInvalid = 2,  // an unknown operator tolerates nothing
};

// Node selector requirement operators. kNever stands for a requirement that
// kube-scheduler cannot parse (for example Gt with a non-integer value): it
// makes its term match no node.
enum RequirementOp : std::int8_t {
    kIn = 0,
    kNotIn = 1,
    kExists = 2,
    kDoesNotExist = 3,
    kGreaterThan = 4,
    kLessThan = 5,
    kNameIn = 6,     // matchFields metadata.name In
    kNameNotIn = 7,  // matchFields metadata.name NotIn
    kNever = 8,
};

enum TermKind : std::int8_t {
    kSelectorTerm = 0,   // spec.nodeSelector: must match
    kRequiredTerm = 1,   // required node affinity terms: one must match
    kPreferredTerm = 2,  // preferred terms: add their weight when matched
};

enum Strategy : std::int8_t {
    kLeastAllocated = 0,
    kMostAllocated = 1,
    kRequestedToCapacityRatio = 2,
};

enum Normalization : std::int8_t {
    kNoNormalization = 0,
    kDefaultNormalization = 1,  // scale so the maximum becomes 100
    kReverseNormalization = 2,  // the same, then 100 minus it
    kSpreadNormalization = 3,   // PodTopologySpread: fewer matching pods scores higher
    kMinMaxNormalization = 4,   // InterPodAffinity: map [min, max] to [0, 100]
};

// What a pod term is: an inter-pod affinity term or a spread constraint.
enum PodTermKind : std::int8_t {
    kRequiredAffinity = 0,
    kRequiredAntiAffinity = 1,
    kPreferredAffinity = 2,
    kPreferredAntiAffinity = 3,
    kHardSpread = 4,  // whenUnsatisfiable: DoNotSchedule
    kSoftSpread = 5,  // whenUnsatisfiable: ScheduleAnyway
};

// Bits of Terms::flags.
enum PodTermFlag : std::uint8_t {
    kAllNamespaces = 1,
    kHonorNodeAffinity = 2,
    kHonorTaints = 4,
    kHostnameKey = 8,
};

constexpr std::int64_t kMaxNodeScore = 100;
constexpr int kCpuColumn = 0;
constexpr int kMemoryColumn = 1;
constexpr int kEphemeralStorageColumn = 2;
constexpr int kPodsColumn = 3;
constexpr int kFirstExtendedColumn = 4;

// Id of the 0.0.0.0 wildcard address in host port arrays.
constexpr std::int32_t kWildcardIp = -1;

// Borrowed views of pod terms over pod labels (pykube_core/scheduler/
// arrays.py TermArrays). Term t selects pods in its namespaces (or all with
// kAllNamespaces) whose labels match every requirement in
// [selector_offsets[t], selector_offsets[t + 1]); requirement ops are kIn,
// kNotIn, kExists, kDoesNotExist and kNever.
struct Terms {
    std::int64_t count;
    const std::int8_t* kinds;
    const std::int64_t* weights;      // preferred weight, or maxSkew
    const std::int64_t* min_domains;  // spread constraints only
    const std::int32_t* topology_keys;
    const std::uint8_t* flags;
    const std::int64_t* owners;             // existing pod slot, or -1
    const std::int64_t* namespace_offsets;  // count + 1
    const std::int32_t* namespaces;
    const std::int64_t* selector_offsets;  // count + 1
    const std::int8_t* requirement_ops;
    const std::int32_t* requirement_keys;
    const std::int64_t* requirement_value_offsets;
    const std::int32_t* requirement_values;  // sorted within a requirement
};

// Borrowed views of the node table, N rows and R resource columns.
struct Nodes {
    std::int64_t node_count;
    std::int64_t resource_count;
    const std::int64_t* allocatable;        // N x R, row-major
    const std::int64_t* requested;          // N x R; the pods column is the pod count
    const std::int64_t* nonzero_requested;  // N x 2: cpu and memory with defaults
    const std::uint8_t* unschedulable;      // N
    const std::int32_t* name_ids;           // N

    const std::int64_t* label_offsets;  // N + 1
    const std::int32_t* label_keys;     // sorted by key within a row
    const std::int32_t* label_values;
    std::int64_t string_count;
    const std::int64_t* string_numbers;       // per string id: its base-10 int64 value
    const std::uint8_t* string_is_number;     // per string id: 1 when it parses

    const std::int64_t* taint_offsets;  // N + 1
    const std::int32_t* taint_keys;
    const std::int32_t* taint_values;
    const std::int8_t* taint_effects;

    const std::int64_t* port_offsets;  // N + 1
    const std::int32_t* port_ips;      // kWildcardIp for 0.0.0.0
    const std::int32_t* port_numbers;
    const std::int8_t* port_protocols;

    const std::int64_t* image_offsets;  // N + 1
    const std::int32_t* image_ids;
    const std::int64_t* image_sizes;     // bytes
    const std::int32_t* image_node_counts;  // per string id: nodes with that image

    // Existing pods, one slot each; a free slot has row -1.
    std::int64_t pod_count;
    const std::int32_t* pod_rows;
    const std::int32_t* pod_namespaces;
    const std::uint8_t* pod_terminating;
    const std::int64_t* pod_label_offsets;  // pod_count + 1
    const std::int32_t* pod_label_keys;     // sorted by key within a pod
    const std::int32_t* pod_label_values;
    Terms pod_terms;  // the existing pods' inter-pod affinity terms
};

// Borrowed views of one compiled pod.
struct Pod {
    const std::int64_t* requests;          // R
    const std::int64_t* nonzero_requests;  // R: cpu and memory with scoring defaults
    std::int32_t node_name_id;             // -1 when spec.nodeName is empty
    bool tolerates_unschedulable;

    std::int64_t toleration_count;
    const std::int32_t* toleration_keys;  // -1 for an empty key (any key)
    const std::int8_t* toleration_ops;
    const std::int32_t* toleration_values;
    const std::int8_t* toleration_effects;  // kAnyEffect for an empty effect

    std::int64_t term_count;
    const std::int8_t* term_kinds;
    const std::int64_t* term_weights;
    const std::int64_t* term_offsets;  // term_count + 1, into the requirements
    const std::int8_t* requirement_ops;
    const std::int32_t* requirement_keys;
    const std::int64_t* requirement_value_offsets;  // requirement count + 1
    const std::int32_t* requirement_values;         // sorted within a requirement
    const std::int64_t* requirement_numbers;        // the operand of Gt and Lt

    std::int64_t port_count;
    const std::int32_t* port_ips;
    const std::int32_t* port_numbers;
    const std::int8_t* port_protocols;

    std::int64_t image_count;
    const std::int32_t* image_ids;  // one per container with a known image
    std::int64_t container_count;   // init and app containers

    std::int32_t namespace_id;
    std::int64_t label_count;
    const std::int32_t* label_keys;  // sorted
    const std::int32_t* label_values;
    Terms terms;  // inter-pod affinity terms and spread constraints
    bool system_default_spread;

    // One VolumeConflict per node, or none (count 0) when the pod has no
    // bound persistent volumes that restrict its nodes.
    std::int64_t volume_conflict_count;
    const std::int8_t* volume_conflicts;
};

// Borrowed views of the scoring settings of a profile.
struct Scoring {
    std::int8_t strategy;
    std::int64_t fit_resource_count;
    const std::int64_t* fit_columns;
    const std::int64_t* fit_weights;
    std::int64_t shape_count;
    const std::int64_t* shape_utilization;  // percent, increasing
    const std::int64_t* shape_scores;       // 0 to 100
    std::int64_t balanced_resource_count;
    const std::int64_t* balanced_columns;
    std::int64_t hard_pod_affinity_weight;
};

// Output of filter_nodes, one entry per node. detail is the index into the
// taint arrays of the first untolerated taint (TaintToleration), a
// SpreadFailure (PodTopologySpread), an AffinityFailure (InterPodAffinity),
// else -1.
// insufficient is N x R, set to 1 for each resource NodeResourcesFit lacks.
struct FilterOutput {
    std::int8_t* status;
    std::int8_t* plugin;
    std::int64_t* detail;
    std::uint8_t* insufficient;
};

void filter_nodes(const Nodes& nodes, const Pod& pod, const FilterOutput& out);

// filter_nodes for rows [begin, end) only; the output arrays are still
// indexed by row. The PreFilter state is built over every node and pod.
void filter_rows(const Nodes& nodes, const Pod& pod, std::int64_t begin, std::int64_t end,
                 const FilterOutput& out);

// Writes raw plugin scores, candidate_count x kScorePluginCount, for the
// nodes listed in candidates (row indexes of nodes that passed the filters).
void score_nodes(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                 const std::int64_t* candidates, std::int64_t candidate_count,
                 std::int64_t* raw_scores);

// Normalises raw scores in place per plugin (modes), weights them into
// totals, and returns the row of the highest total. Ties are broken
// uniformly by reservoir sampling with splitmix64 seeded from *rng_state,
// which is advanced. Returns -1 when there are no rows.
std::int64_t select_node(std::int64_t* scores, std::int64_t row_count,
                         const std::int64_t* weights, const std::int8_t* modes,
                         std::int64_t* totals, std::uint64_t* rng_state);

// What a batch places: `count` pods identical to `pod`, each filtered,
// scored and selected against the node table with the earlier ones assumed.
// The slot_* fields describe the pod as NodeTable accounts it (its labels
// and its own inter-pod affinity terms, owners ignored), because a placed
// pod is an existing pod for the next one.
struct Batch {
    std::int64_t count;
    std::int64_t nodes_to_find;  // percentageOfNodesToScore's cut-off; node_count scores all
    std::int64_t start_row;      // where the search for feasible nodes starts
    std::int32_t slot_namespace;
    std::uint8_t slot_terminating;
    std::int64_t slot_label_count;
    const std::int32_t* slot_label_keys;  // sorted
    const std::int32_t* slot_label_values;
    Terms slot_terms;
};

// Output of schedule_batch: rows[i] is the node row of pod i, or -1 when
// no node fits it; the batch stops at the first such pod, because later
// identical pods meet the same table.
struct BatchOutput {
    std::int64_t* rows;           // count
    std::int64_t placed;          // pods placed before the first failure
    std::uint64_t rng_state;      // in: the seed state; out: advanced
    std::int64_t next_start_row;  // the start row of the next cycle
};

// Places a batch; gives exactly the rows that `count` calls of filter,
// score and select with an assume after each would give. The node table
// itself is not changed: the kernel assumes the pods on private copies.
void schedule_batch(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                    const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                    BatchOutput& out);

// Returns the feasible rows in search order, starting at start_row and
// wrapping, up to nodes_to_find of them; *processed is the number of rows
// examined, which moves the next cycle's start row.
void sample_feasible(const std::int8_t* status, std::int64_t node_count, std::int64_t start_row,
                     std::int64_t nodes_to_find, std::int64_t* rows, std::int64_t* row_count,
                     std::int64_t* processed);

// The normalisation step of select_node: normalises raw scores in place
// per plugin (modes).
void normalize_scores(std::int64_t* scores, std::int64_t row_count, const std::int8_t* modes);

// The selection step of select_node: returns the index of the highest
// total, breaking ties by reservoir sampling, or -1 when there are none.
std::int64_t pick_best(const std::int64_t* totals, std::int64_t row_count, std::uint64_t* rng_state);

// Advances the state and returns the next splitmix64 output.
std::uint64_t splitmix64_next(std::uint64_t* state);

}  // namespace pykube::scheduler
