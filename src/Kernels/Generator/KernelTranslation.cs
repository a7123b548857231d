using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

/// <summary>
/// Turns one [Kernel] method into a <see cref="KernelInfo"/>: its checked signature, and a
/// complete OpenCL C and CUDA C program holding the kernel and every device function it reaches.
/// </summary>
internal static class KernelTranslation
{
    public static KernelInfo Kernel(MethodDeclarationSyntax syntax, IMethodSymbol method, SemanticModel model, CancellationToken cancellation)
    {
        var diagnostics = new List<DiagnosticInfo>();
        List<ParameterInfo> parameters = KernelSignature(syntax, method, diagnostics);

        if (diagnostics.Count > 0)
        {
            // A body is only checked against a valid signature: one fault, one diagnostic.
            return new KernelInfo(
                method.Name, LocationInfo.From(syntax.Identifier.GetLocation()), method.ContainingType.ToDisplayString(), string.Empty,
                new EquatableArray<ParameterInfo>(parameters), 0, false, 0, 0, string.Empty, string.Empty,
                new EquatableArray<string>(new string[0]), new EquatableArray<DiagnosticInfo>(diagnostics), false);
        }

        // Diagnostics come from the first dialect; the second translation walks the same code.
        Program openCL = Translate(Dialect.OpenCL, syntax, method, model, parameters, diagnostics, cancellation);
        Program cuda = Translate(Dialect.Cuda, syntax, method, model, parameters, new List<DiagnosticInfo>(), cancellation);

        return new KernelInfo(
            method.Name,
            LocationInfo.From(syntax.Identifier.GetLocation()),
            method.ContainingType.ToDisplayString(),
            method.ContainingType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + "." + method.Name,
            new EquatableArray<ParameterInfo>(parameters),
            openCL.SharedMemoryBytes,
            openCL.UsesBarrier,
            openCL.ScratchWordsPerThread,
            openCL.MinimumComputeCapability,
            openCL.Source,
            cuda.Source,
            new EquatableArray<string>(openCL.DeviceFunctions),
            new EquatableArray<DiagnosticInfo>(diagnostics),
            openCL.UsesWarp);
    }

    /// <summary>Checks a device function on its own, so one that no kernel calls is checked too.</summary>
    public static DeviceFunctionInfo DeviceFunction(MethodDeclarationSyntax syntax, IMethodSymbol method, SemanticModel model)
    {
        var diagnostics = new List<DiagnosticInfo>();
        DeviceFunctionSignature(Dialect.OpenCL, syntax, method, diagnostics);
        if (diagnostics.Count == 0)
        {
            // A body is only checked against a valid signature: one fault, one diagnostic.
            new FunctionTranslator(model, Dialect.OpenCL, isKernel: false, diagnostics).TranslateBody(syntax);
        }

        return new DeviceFunctionInfo(
            method.Name,
            LocationInfo.From(syntax.Identifier.GetLocation()),
            method.ContainingType.ToDisplayString(),
            new EquatableArray<DiagnosticInfo>(diagnostics));
    }

    private sealed class Program
    {
        public string Source = string.Empty;
        public int SharedMemoryBytes;
        public bool UsesBarrier;
        public int ScratchWordsPerThread;
        public int MinimumComputeCapability;
        public bool UsesWarp;
        public List<string> DeviceFunctions = new();
    }

    private sealed record Function(IMethodSymbol Method, MethodDeclarationSyntax Syntax, FunctionTranslator Translator, string Signature);

    private static Program Translate(
        Dialect dialect,
        MethodDeclarationSyntax syntax,
        IMethodSymbol method,
        SemanticModel model,
        List<ParameterInfo> parameters,
        List<DiagnosticInfo> diagnostics,
        CancellationToken cancellation)
    {
        var kernel = new FunctionTranslator(model, dialect, isKernel: true, diagnostics);
        kernel.TranslateBody(syntax);

        // Every device function reachable from the kernel, in the order first called.
        var functions = new List<Function>();
        var pending = new Queue<(IMethodSymbol Method, Location Site)>(kernel.Calls);
        while (pending.Count > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            (IMethodSymbol callee, Location site) = pending.Dequeue();
            if (functions.Any(f => SymbolEqualityComparer.Default.Equals(f.Method, callee)))
            {
                continue;
            }

            if (callee.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellation) is not MethodDeclarationSyntax calleeSyntax)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedCall, site, callee.Name, " (a device function must be declared in this assembly, where its source is)"));
                continue;
            }

            SemanticModel calleeModel = model.Compilation.GetSemanticModel(calleeSyntax.SyntaxTree);
            string signature = DeviceFunctionSignature(dialect, calleeSyntax, callee, diagnostics);
            var translator = new FunctionTranslator(calleeModel, dialect, isKernel: false, diagnostics);
            translator.TranslateBody(calleeSyntax);
            functions.Add(new Function(callee, calleeSyntax, translator, signature));
            foreach ((IMethodSymbol Method, Location Site) call in translator.Calls)
            {
                pending.Enqueue(call);
            }
        }

        ReportRecursion(functions, diagnostics);

        bool usesBarrier = kernel.UsesBarrier || functions.Any(f => f.Translator.UsesBarrier);
        bool floatAtomicGlobal = kernel.UsesFloatAtomicGlobal || functions.Any(f => f.Translator.UsesFloatAtomicGlobal);
        bool floatAtomicShared = kernel.UsesFloatAtomicShared || functions.Any(f => f.Translator.UsesFloatAtomicShared);
        bool sharedVectors = kernel.UsesSharedVectorAccess || functions.Any(f => f.Translator.UsesSharedVectorAccess);

        List<Intrinsic> intrinsics = kernel.CalledIntrinsics.Concat(functions.SelectMany(f => f.Translator.CalledIntrinsics)).Distinct().ToList();
        // cp.async needs 16-byte aligned shared addresses: every shared array of a kernel that copies asynchronously is aligned.
        bool asyncCopies = intrinsics.Any(i => i.Class == "Async");
        int scratchWords = dialect == Dialect.OpenCL ? intrinsics.Select(i => i.OpenCLScratchWords).DefaultIfEmpty(0).Max() : 0;

        // OpenCL only declares __local memory at kernel scope: the kernel takes the scratch as a
        // hidden last parameter and hands it to each of its device functions the same way.
        string scratchParameter = dialect.Pointer("uint", readOnly: false, shared: true) + " " + Intrinsics.ScratchName;
        string WithScratch(string text) => scratchWords == 0
            ? text.Replace(FunctionTranslator.ScratchArgumentOnly, string.Empty).Replace(FunctionTranslator.ScratchArgumentAfter, string.Empty)
            : text.Replace(FunctionTranslator.ScratchArgumentOnly, Intrinsics.ScratchName).Replace(FunctionTranslator.ScratchArgumentAfter, ", " + Intrinsics.ScratchName);
        string SignatureWithScratch(string signature) => scratchWords == 0
            ? signature
            : signature.Substring(0, signature.Length - 1) + (signature.EndsWith("()", System.StringComparison.Ordinal) ? string.Empty : ", ") + scratchParameter + ")";
        bool usesHalf = kernel.UsesHalf || functions.Any(f => f.Translator.UsesHalf);
        bool usesBFloat16 = kernel.UsesBFloat16 || functions.Any(f => f.Translator.UsesBFloat16);

        var source = new StringBuilder();
        source.Append("// Kernel ").Append(method.Name).Append(" (").Append(method.ContainingType.ToDisplayString()).Append('.').Append(method.Name)
            .Append("), translated from C# to ").Append(dialect.Name).Append(" by GpuViT at build time; edit the C# source instead.\n\n");
        source.Append(dialect.Prelude(floatAtomicGlobal, floatAtomicShared));
        // In table order, each text once: rows of one family share their helpers.
        IEnumerable<string> preludes = Intrinsics.All.Where(intrinsics.Contains)
            .Select(i => dialect == Dialect.OpenCL ? i.OpenCLPrelude : i.CudaPrelude)
            .Where(prelude => prelude.Length > 0)
            .Distinct();
        foreach (string prelude in preludes)
        {
            source.Append(prelude.TrimEnd('\n')).Append("\n\n");
        }

        source.Append(dialect.Storage16Prelude(usesHalf, usesBFloat16));

        if (functions.Count > 0)
        {
            foreach (Function function in functions)
            {
                source.Append(SignatureWithScratch(function.Signature)).Append(";\n");
            }

            source.Append('\n');
            foreach (Function function in functions)
            {
                source.Append(SignatureWithScratch(function.Signature)).Append('\n').Append("{\n").Append(WithScratch(function.Translator.Body)).Append("}\n\n");
            }
        }

        string kernelParameters = string.Join(", ", parameters.Select(p => KernelParameter(dialect, p)).Concat(scratchWords == 0 ? new string[0] : new[] { scratchParameter }));
        source.Append(dialect.KernelSignature(method.Name, kernelParameters)).Append('\n').Append("{\n");
        foreach (ParameterInfo buffer in parameters.Where(p => p.Kind == "Buffer"))
        {
            string? view = dialect.BufferView(BufferPointer(dialect, buffer), KernelTypes.CName(buffer.Name));
            if (view is not null)
            {
                source.Append("    ").Append(view).Append('\n');
            }
        }

        foreach ((string element, string name, int length) in kernel.Shared)
        {
            // Vector access on shared memory may reach any float array (device functions take them as parameters).
            source.Append("    ").Append(dialect.SharedDeclaration(element, name, length, aligned16: asyncCopies || (sharedVectors && element == "float"))).Append('\n');
        }

        if (kernel.UsesGroupCopy && dialect == Dialect.OpenCL)
        {
            source.Append("    ").Append(GroupCopyIntrinsics.OpenCLState).Append('\n');
        }

        source.Append(WithScratch(kernel.Body)).Append("}\n");

        return new Program
        {
            Source = source.ToString(),
            SharedMemoryBytes = SharedMemoryBytes(kernel.Shared, sharedVectors, asyncCopies),
            UsesBarrier = usesBarrier,
            ScratchWordsPerThread = scratchWords,
            MinimumComputeCapability = intrinsics.Select(i => i.MinimumComputeCapability).DefaultIfEmpty(0).Max(),
            UsesWarp = intrinsics.Any(i => i.WholeWarps),
            DeviceFunctions = functions.Select(f => f.Method.ContainingType.Name + "." + f.Method.Name).ToList(),
        };
    }

    /// <summary>The arrays' bytes, laid out in order, float arrays starting at a 16-byte boundary when aligned for vectors.</summary>
    private static int SharedMemoryBytes(List<(string Element, string Name, int Length)> shared, bool vectorAligned, bool allAligned)
    {
        int bytes = 0;
        foreach ((string element, _, int length) in shared)
        {
            if (allAligned || (vectorAligned && element == "float"))
            {
                bytes = (bytes + 15) / 16 * 16;
            }

            bytes += length * (element is "half" or "bfloat16" ? 2 : 4);
        }

        return bytes;
    }

    private static string BufferPointer(Dialect dialect, ParameterInfo parameter) =>
        dialect.Pointer(dialect.Scalar(parameter.ElementType.ToLowerInvariant()), parameter.Access == "ReadOnly", shared: false);

    private static string KernelParameter(Dialect dialect, ParameterInfo parameter)
    {
        string element = dialect.Scalar(parameter.ElementType.ToLowerInvariant());
        if (parameter.Kind == "Buffer")
        {
            return dialect.BufferParameter(BufferPointer(dialect, parameter), KernelTypes.CName(parameter.Name));
        }

        // OpenCL forbids bool kernel arguments; both dialects take an int 0/1.
        return (parameter.ElementType == "Bool" ? "int" : element) + " " + KernelTypes.CName(parameter.Name);
    }

    private static List<ParameterInfo> KernelSignature(MethodDeclarationSyntax syntax, IMethodSymbol method, List<DiagnosticInfo> diagnostics)
    {
        Location location = syntax.Identifier.GetLocation();
        void Signature(string problem) => diagnostics.Add(DiagnosticInfo.Create(Diagnostics.KernelSignature, location, method.Name, problem));

        if (!method.IsStatic)
        {
            Signature("is not static");
        }

        if (!method.ReturnsVoid)
        {
            Signature("returns " + method.ReturnType.ToDisplayString() + ", not void");
        }

        if (method.IsGenericMethod)
        {
            Signature("is generic");
        }

        if (KernelTypes.IsReserved(method.Name))
        {
            Signature("has a name that OpenCL C or CUDA C reserves");
        }

        for (INamedTypeSymbol? type = method.ContainingType; type is not null; type = type.ContainingType)
        {
            if (type.IsGenericType)
            {
                Signature("is in a generic type");
            }

            if (type.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                Signature("is in a private or protected type, where the generated kernel catalog cannot call it");
            }
        }

        if (method.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
        {
            Signature("is " + method.DeclaredAccessibility.ToString().ToLowerInvariant() + ", where the generated kernel catalog cannot call it");
        }

        var parameters = new List<ParameterInfo>();
        bool threadFirst = method.Parameters.Length > 0
            && KernelTypes.IsKernelThread(method.Parameters[0].Type)
            && method.Parameters[0].RefKind == RefKind.None;
        if (!threadFirst)
        {
            Location at = method.Parameters.Length > 0 ? ParameterLocation(method.Parameters[0], location) : location;
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ThreadParameter, at, method.Name));
        }

        for (int i = 1; i < method.Parameters.Length; i++)
        {
            IParameterSymbol parameter = method.Parameters[i];
            if (KernelTypes.IsKernelThread(parameter.Type))
            {
                // Reported once: either it is not first, or it is here a second time.
                if (threadFirst)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ThreadParameter, ParameterLocation(parameter, location), method.Name));
                }

                continue;
            }

            if (Parameter(parameter, method.Name, location, allowShared: false, diagnostics) is { } info)
            {
                parameters.Add(info);
            }
        }

        return parameters;
    }

    private static string DeviceFunctionSignature(Dialect dialect, MethodDeclarationSyntax syntax, IMethodSymbol method, List<DiagnosticInfo> diagnostics)
    {
        Location location = syntax.Identifier.GetLocation();
        void Signature(string problem) => diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DeviceFunctionSignature, location, method.Name, problem));

        if (!method.IsStatic)
        {
            Signature("is not static");
        }

        if (method.IsGenericMethod || method.ContainingType.IsGenericType)
        {
            Signature("is generic");
        }

        string returnType = "void";
        if (!method.ReturnsVoid)
        {
            string? scalar = KernelTypes.Scalar(method.ReturnType);
            string? vector = KernelTypes.Vector(method.ReturnType);
            if ((scalar is null && vector is null) || method.ReturnsByRef || method.ReturnsByRefReadonly)
            {
                Signature("returns " + method.ReturnType.ToDisplayString()
                    + (KernelTypes.Storage16(method.ReturnType) is not null ? " (a 16-bit float is storage only: return a float and store it with a cast)" : string.Empty));
            }
            else
            {
                returnType = vector ?? dialect.Scalar(scalar!);
            }
        }

        var parameters = new List<string>();
        foreach (IParameterSymbol parameter in method.Parameters)
        {
            if (KernelTypes.IsKernelThread(parameter.Type))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ParameterType, ParameterLocation(parameter, location), parameter.Name, method.Name,
                    "is a KernelThread; read the coordinates in the kernel and pass them as int"));
                continue;
            }

            // Float2 and Float4 are device-function parameters (not kernel parameters): float2/float4 in both dialects.
            if (KernelTypes.Vector(parameter.Type) is { } vector && parameter.RefKind == RefKind.None && !parameter.HasExplicitDefaultValue)
            {
                parameters.Add(vector + " " + KernelTypes.CName(parameter.Name));
                continue;
            }

            if (Parameter(parameter, method.Name, location, allowShared: true, diagnostics) is not { } info)
            {
                continue;
            }

            string element = dialect.Scalar(info.ElementType.ToLowerInvariant());
            // A register array is a pointer to the caller's private array (OpenCL's default address space).
            parameters.Add(info.Kind switch
            {
                "Buffer" => dialect.Pointer(element, info.Access == "ReadOnly", info.CSharpType.Contains("SharedArray")) + " " + KernelTypes.CName(info.Name),
                "Registers" => element + "* " + KernelTypes.CName(info.Name),
                _ => element + " " + KernelTypes.CName(info.Name),
            });
        }

        return dialect.DeviceFunctionQualifier + returnType + " " + KernelTypes.CName(method.Name) + "(" + string.Join(", ", parameters) + ")";
    }

    private static ParameterInfo? Parameter(IParameterSymbol parameter, string owner, Location fallback, bool allowShared, List<DiagnosticInfo> diagnostics)
    {
        Location location = ParameterLocation(parameter, fallback);
        string? problem = null;
        if (parameter.RefKind != RefKind.None)
        {
            problem = "is passed by " + parameter.RefKind.ToString().ToLowerInvariant() + " (return a value instead)";
        }
        else if (parameter.IsParams)
        {
            problem = "is params";
        }
        else if (parameter.HasExplicitDefaultValue)
        {
            problem = "has a default value";
        }

        ParameterInfo? info = null;
        if (KernelTypes.Scalar(parameter.Type) is { } scalar)
        {
            info = new ParameterInfo(parameter.Name, "Scalar", Capitalise(scalar), "None", scalar);
        }
        else if (KernelTypes.RegisterArray(parameter.Type) is { } registers && allowShared)
        {
            info = new ParameterInfo(parameter.Name, "Registers", Capitalise(registers), "ReadWrite", parameter.Type.ToDisplayString());
        }
        else if (KernelTypes.View(parameter.Type) is { } view && (view.Kind != "SharedArray" || allowShared))
        {
            string access = view.Kind == "ReadOnlyView" ? "ReadOnly" : "ReadWrite";
            info = new ParameterInfo(parameter.Name, "Buffer", Capitalise(view.Element), access,
                "global::GpuViT.Kernels." + view.Kind + "<" + KernelTypes.CSharpElement(view.Element) + ">");
        }
        else
        {
            problem ??= "has type " + parameter.Type.ToDisplayString()
                + (KernelTypes.View(parameter.Type) is { Kind: "SharedArray" } ? " (a kernel makes its shared arrays with Group.Shared)" : string.Empty)
                + (KernelTypes.RegisterArray(parameter.Type) is not null ? " (a kernel makes its register arrays with stackalloc)" : string.Empty)
                + (IsOrHoldsVector(parameter.Type) ? " (pass a ReadOnlyView<float> and Load2/Load4 from it)" : string.Empty)
                + (KernelTypes.Storage16(parameter.Type) is not null ? " (a 16-bit float is storage only: pass a float, or a view of Half or BFloat16)" : string.Empty);
        }

        if (problem is not null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.ParameterType, location, parameter.Name, owner, problem));
            return null;
        }

        return info;
    }

    /// <summary>Float2/Float4, or a view of them: kernels take views of float and load vectors from them.</summary>
    private static bool IsOrHoldsVector(ITypeSymbol type) =>
        KernelTypes.Vector(type) is not null
        || (type is INamedTypeSymbol { IsGenericType: true } named && named.TypeArguments.Any(argument => KernelTypes.Vector(argument) is not null));

    private static string Capitalise(string scalar) => scalar switch
    {
        "uint" => "UInt",
        "bfloat16" => "BFloat16",
        _ => char.ToUpperInvariant(scalar[0]) + scalar.Substring(1),
    };

    private static Location ParameterLocation(IParameterSymbol parameter, Location fallback) =>
        parameter.Locations.FirstOrDefault() ?? fallback;

    private static void ReportRecursion(List<Function> functions, List<DiagnosticInfo> diagnostics)
    {
        // Depth-first search for a cycle through the call graph of the reachable device functions.
        var state = new Dictionary<IMethodSymbol, int>(SymbolEqualityComparer.Default);
        var path = new List<IMethodSymbol>();

        void Visit(Function function)
        {
            state[function.Method] = 1;
            path.Add(function.Method);
            foreach ((IMethodSymbol callee, _) in function.Translator.Calls)
            {
                Function? next = functions.FirstOrDefault(f => SymbolEqualityComparer.Default.Equals(f.Method, callee));
                if (next is null)
                {
                    continue;
                }

                state.TryGetValue(callee, out int seen);
                if (seen == 1)
                {
                    int start = path.FindIndex(m => SymbolEqualityComparer.Default.Equals(m, callee));
                    string cycle = string.Join(" -> ", path.Skip(start).Concat(new[] { callee }).Select(m => m.Name));
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.Recursion, next.Syntax.Identifier.GetLocation(), callee.Name, cycle));
                }
                else if (seen == 0)
                {
                    Visit(next);
                }
            }

            path.RemoveAt(path.Count - 1);
            state[function.Method] = 2;
        }

        foreach (Function function in functions)
        {
            if (!state.ContainsKey(function.Method))
            {
                Visit(function);
            }
        }
    }
}
