// The app's plain-Kotlin core: no Android imports, no dependencies beyond the Kotlin standard
// library. CI compiles it with kotlinc directly (tests/test_android_app.py); here Gradle builds
// it for the app, and `./gradlew :core:coreTests` runs the same JVM tests.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    kotlin("jvm")
}

// Java 17 bytecode from whichever JDK runs Gradle (see app/build.gradle.kts); Java and Kotlin
// targets agree, as the Kotlin plugin's JVM target validation requires.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
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
