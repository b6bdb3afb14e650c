// The app's plain-Kotlin core: no Android imports, no dependencies beyond the Kotlin standard
// library. CI compiles it with kotlinc directly (tests/test_android_app.py); here Gradle builds
// it for the app, and `./gradlew :core:coreTests` runs the same JVM tests.
plugins {
    kotlin("jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(kotlin("test"))
}

// The tests are a main (CoreTests.kt), not JUnit classes: kotlinc alone must run them.
tasks.register<JavaExec>("coreTests") {
    group = "verification"
    description = "Runs the core's JVM tests (CoreTests.kt)."
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("org.harnessbench.core.CoreTestsKt")
}
