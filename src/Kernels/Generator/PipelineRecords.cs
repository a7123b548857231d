using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace GpuViT.Kernels.Generator;

// The values the incremental pipeline caches between builds: records and arrays compared by
// value, holding no Roslyn objects, so an unchanged kernel is not translated again.

/// <summary>An immutable array compared by its elements, so the incremental pipeline can cache.</summary>
internal readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IEnumerable<T>
    where T : IEquatable<T>
{
    private readonly ImmutableArray<T> _items;

    public EquatableArray(IEnumerable<T> items) => _items = items.ToImmutableArray();

    public int Count => _items.IsDefault ? 0 : _items.Length;

    public T this[int index] => _items[index];

    public bool Equals(EquatableArray<T> other) => this.SequenceEqual(other);

    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    public override int GetHashCode()
    {
        int hash = 17;
        foreach (T item in this)
        {
            hash = (hash * 31) + item.GetHashCode();
        }

        return hash;
    }

    public IEnumerator<T> GetEnumerator() =>
        (_items.IsDefault ? Enumerable.Empty<T>() : _items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A source location without Roslyn objects in it (they must not be cached by the pipeline).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo From(Location location)
    {
        FileLinePositionSpan line = location.GetLineSpan();
        return new LocationInfo(line.Path, location.SourceSpan, line.Span);
    }

    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);
}

/// <summary>A diagnostic that the pipeline can cache and compare.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location location, params string[] arguments) =>
        new(descriptor.Id, LocationInfo.From(location), new EquatableArray<string>(arguments));

    public Diagnostic ToDiagnostic() => Diagnostic.Create(
        Diagnostics.ById(Id),
        Location.ToLocation(),
        Arguments.Cast<object>().ToArray());
}

/// <summary>One kernel parameter after the KernelThread (names match the runtime's enums).</summary>
internal sealed record ParameterInfo(string Name, string Kind, string ElementType, string Access, string CSharpType);

/// <summary>What the generator learned about one kernel: enough to emit its descriptor.</summary>
internal sealed record KernelInfo(
    string Name,
    LocationInfo Location,
    string DeclaringType,
    string MethodReference,
    EquatableArray<ParameterInfo> Parameters,
    int SharedMemoryBytes,
    bool UsesBarrier,
    int OpenCLScratchWordsPerThread,
    int MinimumComputeCapability,
    string OpenCLSource,
    string CudaSource,
    EquatableArray<string> DeviceFunctions,
    EquatableArray<DiagnosticInfo> Diagnostics,
    bool UsesWarp);

/// <summary>A device function's own checks (reported even when no kernel calls it).</summary>
internal sealed record DeviceFunctionInfo(string Name, LocationInfo Location, string DeclaringType, EquatableArray<DiagnosticInfo> Diagnostics);
