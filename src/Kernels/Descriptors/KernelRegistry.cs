using System.Collections.Concurrent;

namespace GpuViT.Kernels;

/// <summary>
/// Every kernel compiled into the loaded assemblies. Each assembly's generated catalog registers
/// its kernels from a module initializer, so a kernel is listed once its assembly is loaded.
/// </summary>
public static class KernelRegistry
{
    private static readonly ConcurrentDictionary<string, KernelDescriptor> s_kernels = new(StringComparer.Ordinal);

    /// <summary>All registered kernels, ordered by name.</summary>
    public static IReadOnlyList<KernelDescriptor> All =>
        s_kernels.Values.OrderBy(k => k.Name, StringComparer.Ordinal).ToArray();

    /// <summary>Called by generated code.</summary>
    public static void Register(IEnumerable<KernelDescriptor> kernels)
    {
        foreach (KernelDescriptor kernel in kernels)
        {
            KernelDescriptor existing = s_kernels.GetOrAdd(kernel.Name, kernel);
            if (!ReferenceEquals(existing, kernel) && existing.DeclaringType != kernel.DeclaringType)
            {
                throw new InvalidOperationException(
                    $"kernel name '{kernel.Name}' is declared by both {existing.DeclaringType} and {kernel.DeclaringType}");
            }
        }
    }

    public static bool TryGet(string name, out KernelDescriptor kernel) =>
        s_kernels.TryGetValue(name, out kernel!);

    public static KernelDescriptor Get(string name) =>
        TryGet(name, out KernelDescriptor kernel)
            ? kernel
            : throw new KeyNotFoundException($"no kernel named '{name}'; known: {string.Join(", ", All.Select(k => k.Name))}");
}
