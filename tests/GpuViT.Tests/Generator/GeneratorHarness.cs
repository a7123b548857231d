using System.Collections.Immutable;
using System.Reflection;
using GpuViT.Kernels.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Tests.Generator;

/// <summary>Runs the kernel generator on a C# source string, as the build would.</summary>
public static class GeneratorHarness
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        // The running framework's assemblies, plus the kernel language.
        string[] platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return platform.Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .Append(MetadataReference.CreateFromFile(typeof(KernelThread).Assembly.Location))
            .ToImmutableArray();
    });

    public sealed record Result(
        ImmutableArray<Diagnostic> GeneratorDiagnostics,
        ImmutableArray<Diagnostic> CompilationErrors,
        string? Catalog,
        Compilation Output)
    {
        /// <summary>The GV diagnostics' ids.</summary>
        public IEnumerable<string> Ids => GeneratorDiagnostics.Select(d => d.Id);

        /// <summary>The generated source of the catalog's only kernel: argument is "openCLSource" or "cudaSource".</summary>
        public string KernelSource(string argument)
        {
            ArgumentSyntax source = CSharpSyntaxTree.ParseText(Catalog ?? throw new InvalidOperationException("no kernel was generated"))
                .GetRoot().DescendantNodes().OfType<ArgumentSyntax>()
                .Single(a => a.NameColon?.Name.Identifier.ValueText == argument);
            return ((LiteralExpressionSyntax)source.Expression).Token.ValueText;
        }

        /// <summary>Builds the sample with its catalog and loads it: its kernels, to launch.</summary>
        public IReadOnlyList<KernelDescriptor> Load()
        {
            using var image = new MemoryStream();
            Microsoft.CodeAnalysis.Emit.EmitResult emitted = Output.Emit(image);
            if (!emitted.Success)
            {
                throw new InvalidOperationException("sample does not build: " + string.Join("; ", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
            }

            Assembly assembly = Assembly.Load(image.ToArray());
            Type catalog = assembly.GetType(Output.AssemblyName + ".Generated.KernelCatalog", throwOnError: true)!;
            return (IReadOnlyList<KernelDescriptor>)catalog.GetProperty("All")!.GetValue(null)!;
        }
    }

    public static Result Run(string source, string assemblyName = "SampleKernels")
    {
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest), path: "Sample.cs");
        var compilation = CSharpCompilation.Create(
            assemblyName,
            [tree],
            s_references.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        // The sample itself must be valid C#: the generator reports on code that compiles.
        Diagnostic[] sourceErrors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        if (sourceErrors.Length > 0)
        {
            throw new InvalidOperationException("sample does not compile as C#: " + string.Join("; ", sourceErrors.Select(e => e.ToString())));
        }

        GeneratorDriver driver = CSharpGeneratorDriver.Create(new KernelGenerator());
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        GeneratorDriverRunResult run = driver.GetRunResult();
        string? catalog = run.GeneratedTrees.FirstOrDefault()?.ToString();
        ImmutableArray<Diagnostic> errors = output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToImmutableArray();
        return new Result(diagnostics, errors, catalog, output);
    }

    /// <summary>A class holding one kernel whose body is <paramref name="body"/>.</summary>
    public static string Kernel(string body, string members = "", string parameters = "ReadOnlyView<float> a, ReadWriteView<float> b, int n", string name = "Probe") => $$"""
        using System;
        using System.Linq;
        using GpuViT.Kernels;

        public static class Sample
        {
        {{members}}
            [Kernel]
            public static void {{name}}(KernelThread thread, {{parameters}})
            {
                int i = thread.Global.X;
        {{body}}
            }
        }
        """;
}
