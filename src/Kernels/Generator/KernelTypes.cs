using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace GpuViT.Kernels.Generator;

/// <summary>How the generator recognises the kernel language's types, attributes and names.</summary>
internal static class KernelTypes
{
    public const string Namespace = "GpuViT.Kernels";
    public const string KernelAttribute = Namespace + ".KernelAttribute";
    public const string DeviceFunctionAttribute = Namespace + ".DeviceFunctionAttribute";

    /// <summary>"float", "int", "uint" or "bool" for the supported scalar types, else null.</summary>
    public static string? Scalar(ITypeSymbol? type) => type?.SpecialType switch
    {
        SpecialType.System_Single => "float",
        SpecialType.System_Int32 => "int",
        SpecialType.System_UInt32 => "uint",
        SpecialType.System_Boolean => "bool",
        _ => null,
    };

    /// <summary>
    /// "half" for System.Half, "bfloat16" for GpuViT.Kernels.BFloat16, else null: the 16-bit
    /// floats that views store but kernels never compute on (loaded as float, stored from float).
    /// </summary>
    public static string? Storage16(ITypeSymbol? type) => type switch
    {
        INamedTypeSymbol { Name: "Half" } named when named.ContainingNamespace?.ToDisplayString() == "System" => "half",
        INamedTypeSymbol { Name: "BFloat16" } named when named.ContainingNamespace?.ToDisplayString() == Namespace => "bfloat16",
        _ => null,
    };

    /// <summary>The C# spelling of a view element ("float", ..., "half", "bfloat16"), fully qualified for generated code.</summary>
    public static string CSharpElement(string element) => element switch
    {
        "half" => "global::System.Half",
        "bfloat16" => "global::" + Namespace + ".BFloat16",
        _ => element,
    };

    /// <summary>For ReadOnlyView/ReadWriteView/SharedArray of float, int, uint, Half or BFloat16: its kind and element.</summary>
    public static (string Kind, string Element)? View(ITypeSymbol? type)
    {
        if (type is not INamedTypeSymbol { IsGenericType: true } named
            || named.ContainingNamespace?.ToDisplayString() != Namespace
            || named.Name is not ("ReadOnlyView" or "ReadWriteView" or "SharedArray"))
        {
            return null;
        }

        string? element = Scalar(named.TypeArguments[0]) ?? Storage16(named.TypeArguments[0]);
        return element is null or "bool" ? null : (named.Name, element);
    }

    /// <summary>For System.Span&lt;T&gt; of float, int or uint (a register array): its element, else null.</summary>
    public static string? RegisterArray(ITypeSymbol? type)
    {
        if (type is not INamedTypeSymbol { IsGenericType: true, Name: "Span" } named
            || named.ContainingNamespace?.ToDisplayString() != "System")
        {
            return null;
        }

        string? element = Scalar(named.TypeArguments[0]);
        return element is null or "bool" ? null : element;
    }
    /// <summary>
    /// "float2" or "float4" (the C type in both dialects) for Float2 and Float4, else null. Kept
    /// apart from <see cref="Scalar"/>: casts, kernel parameters, atomics and shared arrays stay scalar.
    /// </summary>
    public static string? Vector(ITypeSymbol? type) =>
        IsLanguageType(type, "Float2") ? "float2" : IsLanguageType(type, "Float4") ? "float4" : null;

    public static bool IsKernelThread(ITypeSymbol? type) => IsLanguageType(type, "KernelThread");

    public static bool IsInt3(ITypeSymbol? type) => IsLanguageType(type, "Int3");

    public static bool IsLanguageType(ITypeSymbol? type, string name) =>
        type is INamedTypeSymbol named && named.Name == name && named.ContainingNamespace?.ToDisplayString() == Namespace;

    public static bool HasAttribute(ISymbol symbol, string attribute) =>
        symbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == attribute);

    /// <summary>
    /// Identifiers that mean something in OpenCL C or CUDA C, or name a built-in we emit: the
    /// keywords and types below, the float remainder, infinity, NaN, the float-atomic prelude, the
    /// 16-bit conversions, the vector loads, stores and constructors (Dialect), and every C name in
    /// the intrinsic table.
    /// </summary>
    private static readonly HashSet<string> Reserved = new(new[]
    {
        "auto", "register", "restrict", "inline", "extern", "signed", "unsigned", "typedef", "union",
        "kernel", "global", "local", "constant", "private", "read_only", "write_only", "read_write",
        "half", "char", "uchar", "short", "ushort", "long", "ulong", "size_t", "ptrdiff_t", "intptr_t", "uintptr_t",
        "float2", "float3", "float4", "float8", "float16", "int2", "int3", "int4", "int8", "int16",
        "uint2", "uint3", "uint4", "uint8", "uint16", "image2d_t", "image3d_t", "sampler_t", "event_t",
        "warpSize", "main", "asm", "template", "typename",
        "fmod", "fmodf", "atomic_cmpxchg", "INFINITY", "NAN", "NULL",
        "vload2", "vload4", "vstore2", "vstore4", "make_float2", "make_float4",
        "vload_half", "vstore_half_rte", "as_float", "as_uint", "__float_as_uint", "__uint_as_float",

        // The group-copy macros expand in the kernel body and call these.
        "async_work_group_copy", "wait_group_events",
    }.Concat(Intrinsics.CNames()));

    /// <summary>The C name of a C# identifier: unchanged unless C reserves it, then with a trailing '_'.</summary>
    public static string CName(string name) => Reserved.Contains(name) || name.StartsWith("gv_") ? name + "_" : name;

    public static bool IsReserved(string name) => Reserved.Contains(name);
}
