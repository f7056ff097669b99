// Included first by kernels that use subgroup builtins (on devices with the 'subgroups' feature).
enable subgroups;
